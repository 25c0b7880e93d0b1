//! The BFF. Start `catalog` and `reviews` first (`cargo run --bin catalog`,
//! `cargo run --bin reviews`), then `cargo run`, and ask:
//! `curl localhost:3030/graphql -H 'content-type: application/json'
//! -d '{"query":"query Cart { cart(id: \"c1\") { lines { product { name } } } }"}'`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `CATALOG_URL` | `http://127.0.0.1:3031` | the `catalog` service |
//! | `REVIEWS_URL` | `http://127.0.0.1:3032` | the `reviews` service |

use std::error::Error;
use std::process::ExitCode;

use example_bff_graphql::{Services, app};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "bff";
const DEFAULT_PORT: u16 = 3030;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    let services = Services::new(
        url("CATALOG_URL", "http://127.0.0.1:3031"),
        url("REVIEWS_URL", "http://127.0.0.1:3032"),
    );
    server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| app(services, meter)).await
}

fn url(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}
