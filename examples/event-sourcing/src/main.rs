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
    server::exit_code(run().await)
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
    let store = EventStore::connect(&url)
        .await
        .map_err(|e| format!("cannot use DATABASE_URL: {e}"))?;
    server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        // The read side runs beside the write side, in a task of its own.
        // Its checkpoint is transactional: stopping it at any moment is safe,
        // and the next start resumes where it stopped.
        let every = Duration::from_millis(interval);
        tokio::spawn(Projection::new(store.clone()).run(every));
        app(AppState::new(store), meter)
    })
    .await
}
// ANCHOR_END: main
