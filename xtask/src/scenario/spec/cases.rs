//! The schema of `cases.toml`: for examples whose programs run to
//! completion rather than serve, the programs to run and what each must do.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A `cases.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cases {
    pub case: Vec<Case>,
}

/// One program run and what it must do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in reports and in the book's table.
    pub name: String,
    /// The binary to run.
    pub bin: String,
    /// A package of its own, built alone so that its features are not unified
    /// with the rest of the workspace (for a crate that must lack a feature).
    pub package: Option<String>,
    /// Variables; `{http}`, `{grpc}` become the collector's URLs,
    /// `{http_authority}`, `{grpc_authority}` its `127.0.0.1:PORT`s,
    /// `{hanging}` the URL of a server that accepts connections and never
    /// answers, `{grpcs}` the URL of its gRPC receiver over TLS, and `{ca}`
    /// the PEM file of the CA that signed that receiver's certificate.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `success` or `failure`.
    pub exit: Exit,
    /// Exactly this many spans arrive.
    pub spans: usize,
    /// The program prints a line containing this (stdout or stderr).
    pub output: Option<String>,
    /// The program runs at least this long (a blocking timeout).
    pub min_seconds: Option<f64>,
    /// The program runs at most this long.
    pub max_seconds: Option<f64>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    Success,
    Failure,
}

impl Exit {
    pub fn word(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => "failure",
        }
    }
}
