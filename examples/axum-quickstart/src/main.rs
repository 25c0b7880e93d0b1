//! Run with `cargo run`, then `curl localhost:3000/chain`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).

use std::process::ExitCode;

use example_axum_quickstart::{AppState, app};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "axum-quickstart";
const DEFAULT_PORT: u16 = 3000;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, addr| {
        // `/chain` calls this same service, at the address it listens on.
        app(AppState::new(format!("http://{addr}")), meter)
    });
    server::exit_code(served.await)
}
// ANCHOR_END: main
