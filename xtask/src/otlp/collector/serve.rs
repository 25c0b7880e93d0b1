//! The HTTP receiver's connections, served by hyper with the time limits
//! axum's `serve` does not set (it gives hyper no timer, so no header
//! timeout applies). A client that sends its headers too slowly is
//! disconnected; a request whose body takes too long is answered 408 (the
//! router's timeout layer). A slow client then holds a connection for
//! seconds, not for ever, however many it opens. Over TLS, the handshake
//! counts as part of the headers' time.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_secs(1)
} else {
    Duration::from_secs(10)
};

/// How long a request may take, its body included, before a 408.
pub const REQUEST_TIMEOUT: Duration = if cfg!(test) {
    Duration::from_secs(2)
} else {
    Duration::from_secs(30)
};

/// Accepts connections until the task is aborted (the collector dropped),
/// each served on a task of its own; over TLS when `tls` is given.
pub async fn serve(listener: TcpListener, router: Router, tls: Option<TlsAcceptor>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: try again shortly.
                eprintln!("collector: OTLP/HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(acceptor) = tls else {
                return connection(stream, service).await;
            };
            // A failed handshake (the client did not trust this
            // certificate, or brought none where one is required) is the
            // client's to report: it has the reason.
            let handshake =
                tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream));
            if let Ok(Ok(stream)) = handshake.await {
                connection(stream, service).await;
            }
        });
    }
}

/// One connection, HTTP/1.1 or HTTP/2, until the client closes it.
async fn connection<S>(stream: S, service: TowerToHyperService<Router>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // A connection's end, clean or not, is the client's business.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
