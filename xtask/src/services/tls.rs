//! The embedded collector's TLS listeners, for the scenarios that export
//! over TLS: a CA made for the run, and OTLP/gRPC and OTLP/HTTP over TLS
//! and over mutual TLS beside the plain ports. Nothing to install: it is
//! all in the xtask ([`crate::otlp::collector::tls`]).

use anyhow::Result;

use super::{Service, Stopping, Stops};
use crate::otlp::collector::Collector;
use crate::otlp::collector::tls::{self, Pki, TlsListeners};

/// The placeholders a run fills. `otlp_tls` and `otlp_mtls` are the
/// endpoint for the run's protocol (so one `env` line serves a scenario run
/// over both); the others are fixed. The files are PEM.
pub const PLACEHOLDERS: &[&str] = &[
    "otlp_tls",
    "otlp_mtls",
    "otlp_grpcs",
    "otlp_https",
    "otlp_grpcs_mtls",
    "otlp_https_mtls",
    "tls.ca",
    "tls.client_cert",
    "tls.client_key",
    "tls.wrong_ca",
];

/// The listeners and the certificates, kept until the processes exit.
pub struct Tls {
    listeners: TlsListeners,
    pki: Pki,
}

impl Tls {
    /// Makes the run's certificates and starts the listeners beside
    /// `collector`'s plain ones.
    pub async fn start(collector: &Collector) -> Result<Tls> {
        let pki = Pki::generate()?;
        let listeners = collector.serve_tls(&pki).await?;
        Ok(Tls { listeners, pki })
    }

    /// The values of [`PLACEHOLDERS`], in order, for a run over `protocol`.
    /// Every endpoint is `https://127.0.0.1:PORT`, the name the
    /// collector's certificate carries: gRPC over TLS is https too.
    pub fn placeholders(&self, protocol: &str) -> Vec<(&'static str, String)> {
        let l = &self.listeners;
        let url = |addr| format!("https://{addr}");
        let (tls, mtls) = if protocol == "grpc" {
            (l.grpc, l.grpc_mtls)
        } else {
            (l.http, l.http_mtls)
        };
        let file = |name| self.pki.path(name).display().to_string();
        PLACEHOLDERS
            .iter()
            .copied()
            .zip([
                url(tls),
                url(mtls),
                url(l.grpc),
                url(l.http),
                url(l.grpc_mtls),
                url(l.http_mtls),
                file(tls::CA),
                file(tls::CLIENT_CERT),
                file(tls::CLIENT_KEY),
                file(tls::WRONG_CA),
            ])
            .collect()
    }
}

impl Service for Tls {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin(async move { drop(self) })
    }
}
