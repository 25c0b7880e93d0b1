//! The checkout service: `PRICING_URL=http://127.0.0.1:3101 cargo run -p
//! example-xray`, with `cargo run -p example-xray --bin pricing` beside it,
//! then `curl localhost:3100/checkout`.

use std::process::ExitCode;

use example_xray::{checkout, server, xray};

const SERVICE_NAME: &str = "checkout";
const DEFAULT_PORT: u16 = 3100;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let pricing_url = std::env::var("PRICING_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:3101".to_owned());
    let served =
        server::serve_with(SERVICE_NAME, DEFAULT_PORT, xray(), |meter, _| {
            checkout(meter, pricing_url)
        });
    server::exit_code(served.await)
}
// ANCHOR_END: main
