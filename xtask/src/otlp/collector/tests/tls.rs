//! The TLS listeners as clients see them: a client that trusts the run's
//! CA gets through, and one that trusts another CA, or brings no
//! certificate where one is required, does not; what gets through is
//! marked with how it came.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::super::tls::{CA, CLIENT_CERT, CLIENT_KEY, Pki, WRONG_CA};
use super::*;

fn read(pki: &Pki, file: &str) -> Vec<u8> {
    std::fs::read(pki.path(file)).unwrap()
}

/// A rustls client trusting `ca`, with the run's client certificate when
/// `identify`.
fn client_config(pki: &Pki, ca: &str, identify: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&read(pki, ca)).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if identify {
        let cert = CertificateDer::from_pem_slice(&read(pki, CLIENT_CERT)).unwrap();
        let key = PrivateKeyDer::from_pem_slice(&read(pki, CLIENT_KEY)).unwrap();
        builder.with_client_auth_cert(vec![cert], key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

/// One OTLP/HTTP export over TLS, by hand: the response's status line, or
/// the error that stopped it.
async fn https_export(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> Result<String, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = TlsConnector::from(config)
        .connect(server, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let body = one_span(name).encode_to_vec();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: {addr}\r\ncontent-type: \
         application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut response = Vec::new();
    let sent = async {
        tls.write_all(head.as_bytes()).await?;
        tls.write_all(&body).await?;
        tls.read_to_end(&mut response).await
    };
    // TLS 1.3 finishes the client's side of the handshake before the
    // server has checked its certificate: a refusal comes on first use.
    if let Err(e) = sent.await {
        return Err(e.to_string());
    }
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

/// One OTLP/gRPC export over TLS.
async fn grpcs_export(
    addr: std::net::SocketAddr,
    pki: &Pki,
    ca: &str,
    identify: bool,
    name: &str,
) -> Result<(), String> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(pki, ca)));
    if identify {
        tls = tls.identity(Identity::from_pem(
            read(pki, CLIENT_CERT),
            read(pki, CLIENT_KEY),
        ));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    TraceServiceClient::new(channel)
        .export(one_span(name))
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn a_client_trusting_the_runs_ca_gets_through_and_others_do_not() {
    let collector = Collector::start(0, 0).await.unwrap();
    let pki = Pki::generate().unwrap();
    let tls = collector.serve_tls(&pki).await.unwrap();

    let ok = https_export(tls.http, client_config(&pki, CA, false), "https").await;
    assert_eq!(ok.as_deref(), Ok("HTTP/1.1 200 OK"));
    grpcs_export(tls.grpc, &pki, CA, false, "grpcs")
        .await
        .unwrap();
    let mtls = client_config(&pki, CA, true);
    let ok = https_export(tls.http_mtls, mtls, "https mtls").await;
    assert_eq!(ok.as_deref(), Ok("HTTP/1.1 200 OK"));
    grpcs_export(tls.grpc_mtls, &pki, CA, true, "grpcs mtls")
        .await
        .unwrap();

    let wrong =
        https_export(tls.http, client_config(&pki, WRONG_CA, false), "no").await;
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("UnknownIssuer")),
        "{wrong:?}"
    );
    let wrong = grpcs_export(tls.grpc, &pki, WRONG_CA, false, "no").await;
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("UnknownIssuer")),
        "{wrong:?}"
    );
    let anonymous =
        https_export(tls.http_mtls, client_config(&pki, CA, false), "no").await;
    assert!(
        anonymous
            .as_ref()
            .is_err_and(|e| e.contains("CertificateRequired")),
        "{anonymous:?}"
    );
    let anonymous = grpcs_export(tls.grpc_mtls, &pki, CA, false, "no").await;
    assert!(anonymous.is_err(), "{anonymous:?}");
    // The plain ports still take plain requests.
    let body = one_span("plain").encode_to_vec();
    let plain = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        None,
        body,
    );
    assert_eq!(plain.await.status(), 200);

    let received = collector.store.snapshot();
    let arrived: Vec<_> = received
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .zip(received.requests.iter().map(|r| (r.transport, r.security)))
        .collect();
    assert_eq!(
        arrived,
        [
            ("https", ("http/protobuf", Security::Tls)),
            ("grpcs", ("grpc", Security::Tls)),
            ("https mtls", ("http/protobuf", Security::Mtls)),
            ("grpcs mtls", ("grpc", Security::Mtls)),
            ("plain", ("http/protobuf", Security::Plaintext)),
        ]
    );
}
