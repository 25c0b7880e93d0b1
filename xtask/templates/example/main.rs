//! Run with `cargo run`, then `curl localhost:3000/`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).

use std::error::Error;
use std::process::ExitCode;

mod server;
mod telemetry;

const SERVICE_NAME: &str = "{{slug}}";
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

async fn run() -> Result<(), Box<dyn Error>> {
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let listener = server::listen(DEFAULT_PORT).await?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    axum::serve(listener, example_{{crate}}::app(&meter))
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    // In-flight requests have finished: flush every span, metric and log.
    // A collector that is down loses this last batch; that is worth a line
    // on stderr, not a failed exit that an orchestrator would count as a crash.
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
