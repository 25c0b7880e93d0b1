//! Run with `cargo run`, then `curl localhost:3000/chain`.
//! Telemetry goes to `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`).

use std::error::Error;
use std::net::IpAddr;
use std::process::ExitCode;

use example_axum_quickstart::{AppState, app};
use tokio::net::TcpListener;

mod telemetry;

const SERVICE_NAME: &str = "axum-quickstart";
const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    let telemetry = telemetry::init(SERVICE_NAME)?;

    let host: IpAddr = env_or("HOST", "127.0.0.1")
        .parse()
        .map_err(|e| format!("HOST is not an IP address: {e}"))?;
    let port: u16 = env_or("PORT", &DEFAULT_PORT.to_string())
        .parse()
        .map_err(|e| format!("PORT is not a port number: {e}"))?;
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener.local_addr()?;

    let meter = opentelemetry::global::meter(SERVICE_NAME);
    let app = app(AppState::new(format!("http://{addr}")), &meter);
    println!("listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // In-flight requests have finished: flush every span, metric and log.
    telemetry.shutdown()?;
    Ok(())
}
// ANCHOR_END: main

// ANCHOR: shutdown_signal
/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
// ANCHOR_END: shutdown_signal

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
