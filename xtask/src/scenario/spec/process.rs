//! A `[[process]]`: what the TOML may say (`Written`, every key optional)
//! and the shapes that are valid (`Kind`: a server, a job, a desktop app,
//! an Envoy). Serde turns the one into the other, so an invalid
//! combination (an Envoy that is a job, a binary with Envoy's `ports`)
//! fails at load time with the process's name, and the code that starts,
//! stops or probes processes matches on `Kind` instead of testing flags.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One process of the example: a binary of its package, or an Envoy.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Written")]
pub struct Process {
    /// Name used in messages and in `{name.url}` references.
    pub name: String,
    /// Extra variables of a binary (an Envoy's configuration file says
    /// everything; it has none). Placeholders: `{other.url}` and
    /// `{other.port}` (an earlier server's address, or any Envoy's:
    /// Envoys' ports are chosen first), `{dir}` (the example's directory),
    /// `{target}` (Cargo's target directory), `{otlp_http}` and
    /// `{otlp_grpc}` (the collector's addresses), and those of the
    /// scenario's `needs`.
    pub env: BTreeMap<String, String>,
    pub kind: Kind,
}

/// The valid shapes of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A binary (a `[[bin]]` of the example's package) that serves: it gets
    /// `PORT=0` unless its `env` says otherwise, and is ready when it
    /// prints its `listening on` line.
    Server { bin: String },
    /// A binary that runs to completion (`until_exit = true`) before the
    /// next process starts; it has no address. It must exit with
    /// `exit_code`: 0 unless the scenario says otherwise (101, a panic,
    /// when the job shows what a crash still exports).
    Job { bin: String, exit_code: i32 },
    /// A desktop app (`desktop = true`; the scenario must say
    /// `needs = ["desktop"]`): started with its `env` by WebKitWebDriver on
    /// a virtual display when the `[[browser]]` steps begin, which then
    /// drive its window. It is closed with the session, after the
    /// expectations were read; its exit is not judged.
    Desktop { bin: String },
    /// An AWS Lambda function (`lambda = true`; the scenario must say
    /// `needs = ["lambda"]`): a binary started with the variables Lambda
    /// gives a function, pointed at the emulator's runtime API under its
    /// binary's name. Its address is the emulator's: traffic to it is
    /// invocations, `POST /2015-03-31/functions/BIN/invocations`.
    Function { bin: String },
    /// An Envoy (`envoy = "CONFIG"`; the scenario must say
    /// `needs = ["envoy"]`), run from a file of the example whose
    /// placeholders are filled in first: `{port}` and `{admin_port}` (its
    /// own, chosen by the runner), `{NAME_port}` for each of its `ports`,
    /// its `vars`, `{other.port}` (an earlier process's, or any Envoy's),
    /// `{otlp_http.port}`, `{otlp_grpc.port}`. Its admin interface takes
    /// traffic as `to = "NAME.admin"`.
    Envoy {
        config: String,
        /// Its listeners besides its first (`["outbound"]`: a sidecar's
        /// second listener), each on a free port chosen before any
        /// process starts: `{outbound_port}` in its configuration,
        /// `{NAME.outbound.url}` and `{NAME.outbound.port}` everywhere.
        ports: Vec<String>,
        /// Its own placeholders, so that one configuration file serves
        /// several Envoys (`{ service = "reviews" }`); their values may use
        /// the placeholders `env` may.
        vars: BTreeMap<String, String>,
    },
}

impl Process {
    /// The example's binary it runs; `None` for an Envoy.
    pub fn bin(&self) -> Option<&str> {
        match &self.kind {
            Kind::Server { bin }
            | Kind::Job { bin, .. }
            | Kind::Desktop { bin }
            | Kind::Function { bin } => Some(bin),
            Kind::Envoy { .. } => None,
        }
    }

    /// It has an address while the scenario runs (a server or an Envoy):
    /// traffic, pages, scrapes and `{name.url}` may name it.
    pub fn serves(&self) -> bool {
        matches!(
            self.kind,
            Kind::Server { .. } | Kind::Envoy { .. } | Kind::Function { .. }
        )
    }

    pub fn is_envoy(&self) -> bool {
        matches!(self.kind, Kind::Envoy { .. })
    }

    pub fn is_desktop(&self) -> bool {
        matches!(self.kind, Kind::Desktop { .. })
    }
}

/// A `[[process]]` as written: every key the TOML may hold.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    name: String,
    bin: Option<String>,
    envoy: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    until_exit: bool,
    exit_code: Option<i32>,
    #[serde(default)]
    desktop: bool,
    #[serde(default)]
    lambda: bool,
}

impl TryFrom<Written> for Process {
    type Error = String;

    fn try_from(w: Written) -> Result<Self, String> {
        let name = w.name;
        if w.exit_code.is_some() && !w.until_exit {
            return Err(format!(
                "[[process]] {name:?}: exit_code is a job's (until_exit = true); \
                 a server is stopped by the runner"
            ));
        }
        let kind = match (w.bin, w.envoy) {
            (Some(_), None) if !w.ports.is_empty() || !w.vars.is_empty() => {
                return Err(format!(
                    "[[process]] {name:?}: ports and vars are an Envoy's; a binary takes env"
                ));
            }
            (Some(_), None) if w.desktop && w.until_exit => {
                return Err(format!(
                    "[[process]] {name:?}: a desktop app is driven by the [[browser]] \
                     steps, it is no job"
                ));
            }
            (Some(_), None) if w.lambda && (w.desktop || w.until_exit) => {
                return Err(format!(
                    "[[process]] {name:?}: a Lambda function waits for invocations; \
                     it is no job or desktop app"
                ));
            }
            (Some(bin), None) if w.lambda => Kind::Function { bin },
            (Some(bin), None) if w.desktop => Kind::Desktop { bin },
            (Some(bin), None) if w.until_exit => Kind::Job {
                bin,
                exit_code: w.exit_code.unwrap_or(0),
            },
            (Some(bin), None) => Kind::Server { bin },
            (None, Some(_))
                if !w.env.is_empty() || w.until_exit || w.desktop || w.lambda =>
            {
                return Err(format!(
                    "[[process]] {name:?} is an Envoy: its configuration file says \
                     everything; it takes no env and is no job or desktop app"
                ));
            }
            (None, Some(config)) => {
                let names_ok = w.ports.iter().all(|n| {
                    n != "admin"
                        && !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_lowercase())
                });
                if !names_ok {
                    return Err(format!(
                        "[[process]] {name:?}: ports are names of lower-case letters, \
                         not \"admin\": {:?}",
                        w.ports
                    ));
                }
                Kind::Envoy {
                    config,
                    ports: w.ports,
                    vars: w.vars,
                }
            }
            _ => {
                return Err(format!(
                    "[[process]] {name:?} has exactly one of bin, envoy"
                ));
            }
        };
        Ok(Process {
            name,
            env: w.env,
            kind,
        })
    }
}
