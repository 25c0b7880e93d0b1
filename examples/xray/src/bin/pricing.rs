//! The pricing service: `cargo run -p example-xray --bin pricing`.

use std::process::ExitCode;

use example_xray::{pricing, server, xray};

#[tokio::main]
async fn main() -> ExitCode {
    let served =
        server::serve_with("pricing", 3101, xray(), |meter, _| pricing(meter));
    server::exit_code(served.await)
}
