//! Run with `DATABASE_URL=postgres://... cargo run`, then
//! `curl -X POST localhost:3040/accounts -H 'content-type: application/json'
//! -d '{"id":"acc-1","owner":"alice"}'`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | (required) | the PostgreSQL database of the events and the read model |
//! | `PROJECTION_INTERVAL_MS` | `100` | how often the projection looks for new events |

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use example_event_sourcing::{AppState, EventStore, Projection, app};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "accounts";
const DEFAULT_PORT: u16 = 3040;

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
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "DATABASE_URL is not set: give the PostgreSQL database to use, \
         e.g. postgres://postgres@127.0.0.1:5432/accounts"
    })?;
    let interval = match std::env::var("PROJECTION_INTERVAL_MS") {
        Err(_) => 100,
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                format!("PROJECTION_INTERVAL_MS={value:?} is not a positive number")
            })?,
    };
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let store = EventStore::connect(&url)
        .await
        .map_err(|e| format!("cannot use DATABASE_URL: {e}"))?;

    // The read side runs beside the write side, in its own task.
    let projection = tokio::spawn(
        Projection::new(store.clone()).run(Duration::from_millis(interval)),
    );
    let listener = server::listen(DEFAULT_PORT).await?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    axum::serve(listener, app(AppState::new(store.clone()), &meter))
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    // Commands have finished; let the projection apply what they appended,
    // then stop it. Its checkpoint is transactional, so stopping it at any
    // other moment would be safe too.
    projection.abort();
    if let Err(error) = Projection::new(store).catch_up().await {
        eprintln!("projection: {error}");
    }
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: main
