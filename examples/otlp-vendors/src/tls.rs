//! TLS to the collector, from the variables the OTLP specification
//! defines and opentelemetry-otlp 0.33 does not read itself:
//!
//! | variable | what it names |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE` | a PEM file of the CAs to trust, in place of the platform's roots |
//! | `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` | a PEM file of this service's certificate, for mutual TLS |
//! | `OTEL_EXPORTER_OTLP_CLIENT_KEY` | a PEM file of its private key |
//!
//! OTLP/gRPC gets them as tonic's [`ClientTlsConfig`], OTLP/HTTP as a
//! [`TlsClient`].

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::tonic_types::transport::{
    Certificate, ClientTlsConfig, Identity,
};
use ureq::tls::{ClientCert, PrivateKey, RootCerts, TlsConfig};

const CA: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
const CLIENT_CERT: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
const CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";

/// Why the TLS variables cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{variable}={path:?} cannot be read: {source}")]
    Read {
        variable: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{variable}={path:?} holds no PEM {what}")]
    NoPem {
        variable: &'static str,
        path: String,
        what: &'static str,
    },
    #[error("{CLIENT_CERT} and {CLIENT_KEY} go together; only {0} is set")]
    HalfIdentity(&'static str),
}

/// The CAs of a PEM file, as read and as parsed.
#[derive(Clone)]
struct Roots {
    pem: Vec<u8>,
    certificates: Vec<ureq::tls::Certificate<'static>>,
}

/// This service's certificate and key: as read, for tonic, and as ureq
/// takes them.
#[derive(Clone)]
struct ClientIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    parsed: ClientCert,
}

// ANCHOR: settings
/// What the variables ask for, read and checked once, at start-up.
#[derive(Clone)]
pub struct TlsSettings {
    /// The CAs to trust; `None`: the platform's roots.
    ca: Option<Roots>,
    /// This service's certificate and key, for mutual TLS.
    identity: Option<ClientIdentity>,
}
// ANCHOR_END: settings

impl TlsSettings {
    /// The settings the variables (read through `var`) ask for; `None`
    /// when they ask for no TLS: no certificate, and no `https://`
    /// endpoint.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TlsSettings>, TlsError> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let https = ["", "TRACES_", "METRICS_", "LOGS_"].iter().any(|signal| {
            set(&format!("OTEL_EXPORTER_OTLP_{signal}ENDPOINT"))
                .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
        });
        let (ca, cert, key) = (set(CA), set(CLIENT_CERT), set(CLIENT_KEY));
        if !https && ca.is_none() && cert.is_none() && key.is_none() {
            return Ok(None);
        }
        let ca = ca.map(|path| certificates(CA, path)).transpose()?;
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(_), None) => return Err(TlsError::HalfIdentity(CLIENT_CERT)),
            (None, Some(_)) => return Err(TlsError::HalfIdentity(CLIENT_KEY)),
            (Some(cert), Some(key)) => Some(identity(cert, key)?),
        };
        Ok(Some(TlsSettings { ca, identity }))
    }

    // ANCHOR: grpc
    /// For OTLP/gRPC: trust the CAs given, or the platform's roots, which
    /// tonic loads only when told to.
    pub fn grpc(&self) -> ClientTlsConfig {
        let config = match &self.ca {
            Some(ca) => {
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem))
            }
            None => ClientTlsConfig::new().with_native_roots(),
        };
        match &self.identity {
            Some(id) => {
                config.identity(Identity::from_pem(&id.cert_pem, &id.key_pem))
            }
            None => config,
        }
    }
    // ANCHOR_END: grpc

    // ANCHOR: http
    /// For OTLP/HTTP: a client that trusts the CAs given, or the
    /// platform's roots, and shows this service's certificate.
    pub fn http(&self) -> TlsClient {
        let roots = match &self.ca {
            Some(ca) => RootCerts::new_with_certs(&ca.certificates),
            None => RootCerts::PlatformVerifier,
        };
        let tls = TlsConfig::builder()
            .root_certs(roots)
            .client_cert(self.identity.as_ref().map(|id| id.parsed.clone()))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            // The exporter judges the status itself: it retries a 503.
            .http_status_as_error(false)
            // The exporter sets a timeout only on a client it builds.
            .timeout_global(Some(export_timeout()))
            .build()
            .new_agent();
        TlsClient(agent)
    }
    // ANCHOR_END: http
}

fn read(variable: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        variable,
        path: path.to_owned(),
        source,
    })
}

/// The certificates of the PEM file `path` names; at least one.
fn certificates(variable: &'static str, path: String) -> Result<Roots, TlsError> {
    let pem = read(variable, &path)?;
    let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(TlsError::NoPem {
            variable,
            path,
            what: "certificate",
        });
    }
    Ok(Roots { pem, certificates })
}

fn identity(cert: String, key: String) -> Result<ClientIdentity, TlsError> {
    let chain = certificates(CLIENT_CERT, cert)?;
    let key_pem = read(CLIENT_KEY, &key)?;
    let parsed = PrivateKey::from_pem(&key_pem).map_err(|_| TlsError::NoPem {
        variable: CLIENT_KEY,
        path: key,
        what: "private key",
    })?;
    Ok(ClientIdentity {
        cert_pem: chain.pem,
        parsed: ClientCert::new_with_certs(&chain.certificates, parsed.to_owned()),
        key_pem,
    })
}

/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), 10 s by default, as the
/// specification says; the telemetry module has checked its syntax.
fn export_timeout() -> Duration {
    std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

// ANCHOR: client
/// OTLP/HTTP's client over TLS: ureq, on rustls with ring. It blocks, as
/// the batch processors' own threads allow; a processor that exports on
/// an async runtime's threads would need an async client. The exporter's
/// own client, reqwest 0.13, would bring rustls on aws-lc-rs (a C library
/// to build), or ring with a process-wide crypto provider to install
/// before any client in the process is built.
#[derive(Debug, Clone)]
pub struct TlsClient(ureq::Agent);

/// The largest response read: an export's response is a few bytes.
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

#[async_trait::async_trait]
impl HttpClient for TlsClient {
    async fn send_bytes(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let sent = self.0.run(Request::from_parts(parts, body.to_vec()));
        let response = sent.inspect_err(report)?;
        let (parts, mut body) = response.into_parts();
        let body = body.with_config().limit(MAX_RESPONSE).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

/// Says why an export failed. The exporter reports only "network error",
/// and the cause (`UnknownIssuer`: a CA that did not sign the collector's
/// certificate) at debug level. Said under an `opentelemetry` target, it
/// joins the SDK's own messages: on the console once a minute, and never
/// exported, which would fail again.
fn report(error: &ureq::Error) {
    // ureq's message carries its cause: it has no `source()` to follow.
    tracing::warn!(
        target: "opentelemetry_otlp_tls",
        "OTLP/HTTP export failed: {error}"
    );
}
// ANCHOR_END: client
