//! Run with `cargo run -p example-prometheus`, then `curl localhost:3080/hello`
//! and `curl localhost:3080/metrics`. OTLP goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` as in every example.

use std::error::Error;
use std::process::ExitCode;

use example_prometheus::telemetry::{self, Extensions};
use example_prometheus::{app, server};

const SERVICE_NAME: &str = "prometheus-example";
const DEFAULT_PORT: u16 = 3080;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    // The reader Prometheus scrapes, on the same meter provider as OTLP:
    // every instrument feeds both.
    let registry = prometheus::Registry::new();
    let scrape = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()?;
    let telemetry = telemetry::init_with(
        SERVICE_NAME,
        Extensions {
            metrics: Some(Box::new(|metrics| metrics.with_reader(scrape))),
            ..Extensions::default()
        },
    )?;

    let listener = server::listen(DEFAULT_PORT).await?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    axum::serve(listener, app(&meter, registry))
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: main
