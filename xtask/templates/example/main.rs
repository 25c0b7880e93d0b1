//! Run with `cargo run`, then `curl localhost:3000/`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).

use std::process::ExitCode;

mod server;
mod telemetry;

const SERVICE_NAME: &str = "{{slug}}";
const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        example_{{crate}}::app(meter)
    });
    server::exit_code(served.await)
}
