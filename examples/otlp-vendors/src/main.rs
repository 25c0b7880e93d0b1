//! `OTLP_VENDOR=newrelic` (or `elastic`, `gcp`) and the vendor's `OTEL_*`
//! variables (see `vendors/*.env`), then `cargo run -p example-otlp-vendors`
//! and `curl localhost:3090/hello`.

use std::process::ExitCode;

use example_otlp_vendors::{app, preflight, server};

const SERVICE_NAME: &str = "otlp-vendors";
const DEFAULT_PORT: u16 = 3090;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    match preflight(|name| std::env::var(name).ok()) {
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
        Ok((vendor, advice)) => {
            for line in advice {
                eprintln!("warning: {line}");
            }
            if let Some(vendor) = vendor {
                eprintln!("exporting to {vendor:?}");
            }
        }
    }
    let served =
        server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _addr| app(meter));
    server::exit_code(served.await)
}
// ANCHOR_END: main
