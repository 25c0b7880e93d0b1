//! The collector's TLS listeners, started beside its plain ones on demand:
//! OTLP/gRPC and OTLP/HTTP over TLS, and both again over mutual TLS, which
//! refuses a client without a certificate the run's CA signed. Every
//! request that arrives through them lands in the same store, marked with
//! its [`Security`].
//!
//! The certificates are made per run ([`Pki::generate`], `rcgen`): a CA,
//! the collector's certificate for `127.0.0.1` and `localhost`, a client
//! certificate, and a second CA that signed nothing, to show what a client
//! that trusts the wrong one sees. Everything is on ring, like every TLS
//! crate the workspace builds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::{Collector, http_router, serve, serve_grpc_with};
use crate::otlp::received::Security;

/// The files [`Pki::generate`] writes, by the name a client is given.
pub const CA: &str = "ca.pem";
pub const CLIENT_CERT: &str = "client.pem";
pub const CLIENT_KEY: &str = "client-key.pem";
/// A CA that signed nothing the collector presents.
pub const WRONG_CA: &str = "wrong-ca.pem";

/// One run's certificates: the collector's in memory, the client's side
/// in PEM files in a directory of their own, removed when this is dropped.
pub struct Pki {
    dir: TempDir,
    ca: CertificateDer<'static>,
    ca_pem: String,
    server: CertificateDer<'static>,
    server_pem: String,
    server_key: KeyPair,
}

impl Pki {
    /// A fresh CA and the certificates it signs; nothing expires for
    /// centuries (rcgen's default validity), so a slow run never sees one
    /// lapse.
    pub fn generate() -> Result<Self> {
        let ca = new_ca("otel-book test CA")?;
        let server_key = KeyPair::generate()?;
        let server = leaf(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?
        .signed_by(&server_key, &ca)?;
        let client_key = KeyPair::generate()?;
        let client =
            leaf(&["otel-book-client"], ExtendedKeyUsagePurpose::ClientAuth)?
                .signed_by(&client_key, &ca)?;
        // Another name too: with the same one, a client would report a bad
        // signature rather than the unknown issuer a wrong CA really is.
        let wrong = new_ca("otel-book wrong CA")?;

        let dir = tempfile::Builder::new().prefix("otlp-tls-").tempdir()?;
        for (file, pem) in [
            (CA, ca.pem()),
            (CLIENT_CERT, client.pem()),
            (CLIENT_KEY, client_key.serialize_pem()),
            (WRONG_CA, wrong.pem()),
        ] {
            let path = dir.path().join(file);
            std::fs::write(&path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(Pki {
            dir,
            ca: ca.der().clone(),
            ca_pem: ca.pem(),
            server: server.der().clone(),
            server_pem: server.pem(),
            server_key,
        })
    }

    /// Where the file named `file` ([`CA`], [`CLIENT_CERT`] ...) is.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// A rustls server config with the collector's certificate; with
    /// `mtls`, one that also requires a client certificate the CA signed.
    fn rustls_config(&self, mtls: bool) -> Result<Arc<ServerConfig>> {
        // The provider named, not the process's default: nothing else in
        // the xtask need install one.
        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if mtls {
            builder.with_client_cert_verifier(self.client_verifier(provider)?)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivatePkcs8KeyDer::from(self.server_key.serialize_der());
        let mut config = builder.with_single_cert(
            vec![self.server.clone()],
            PrivateKeyDer::Pkcs8(key),
        )?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    fn client_verifier(
        &self,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn tokio_rustls::rustls::server::danger::ClientCertVerifier>>
    {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone())?;
        Ok(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()?,
        )
    }

    /// tonic's server config: the same certificate; with `mtls`, client
    /// certificates required (tonic's default once a client CA is set).
    fn tonic_config(&self, mtls: bool) -> ServerTlsConfig {
        let identity =
            Identity::from_pem(&self.server_pem, self.server_key.serialize_pem());
        let config = ServerTlsConfig::new().identity(identity);
        if mtls {
            config.client_ca_root(Certificate::from_pem(&self.ca_pem))
        } else {
            config
        }
    }
}

/// A CA certificate named `name`, able to sign others.
fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// The parameters of a certificate for `names` (IP addresses become IP
/// names), for a server or a client.
fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(
        names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    )?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// The four TLS listeners. Dropping this stops them; the plain ones, and
/// the store, stay with the [`Collector`].
pub struct TlsListeners {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub grpc_mtls: SocketAddr,
    pub http_mtls: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for TlsListeners {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Collector {
    /// Starts OTLP/gRPC and OTLP/HTTP over TLS and over mutual TLS with
    /// `pki`'s certificates, each on a free port of 127.0.0.1.
    pub async fn serve_tls(&self, pki: &Pki) -> Result<TlsListeners> {
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        for (mtls, security) in [(false, Security::Tls), (true, Security::Mtls)] {
            let receiver = self.receiver.secured(security);
            let grpc = bind("gRPC").await?;
            let server = tonic::transport::Server::builder()
                .tls_config(pki.tonic_config(mtls))
                .context("the collector's gRPC TLS configuration")?;
            addrs.push(grpc.local_addr()?);
            tasks.push(tokio::spawn(serve_grpc_with(
                grpc,
                receiver.clone(),
                server,
            )));

            let http = bind("HTTP").await?;
            let acceptor = TlsAcceptor::from(pki.rustls_config(mtls)?);
            addrs.push(http.local_addr()?);
            tasks.push(tokio::spawn(serve::serve(
                http,
                http_router(receiver),
                Some(acceptor),
            )));
        }
        Ok(TlsListeners {
            grpc: addrs[0],
            http: addrs[1],
            grpc_mtls: addrs[2],
            http_mtls: addrs[3],
            tasks,
        })
    }
}

async fn bind(protocol: &str) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .with_context(|| format!("cannot listen for OTLP/{protocol} over TLS"))
}
