//! The gateway. Start `users` and `orders` first (`cargo run --bin users`,
//! `cargo run --bin orders`), then `cargo run`, and call it with a token from
//! `cargo run --bin mint-token -- alice`:
//! `curl -H "Authorization: Bearer $TOKEN" localhost:3020/api/orders/7`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `JWT_PUBLIC_KEY_FILE` | (required) | EdDSA public key, PEM, that verifies tokens |
//! | `USERS_URL` | `http://127.0.0.1:3021` | the `users` upstream |
//! | `ORDERS_URL` | `http://127.0.0.1:3022` | the `orders` upstream |
//! | `RATE_LIMIT_PER_SECOND` | `10` | sustained requests per second, per client |
//! | `RATE_LIMIT_BURST` | `20` | requests a client may send at once |

use std::error::Error;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use example_api_gateway::{Gateway, Settings, app};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "api-gateway";
const DEFAULT_PORT: u16 = 3020;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    let key_file = std::env::var("JWT_PUBLIC_KEY_FILE").map_err(|_| {
        "JWT_PUBLIC_KEY_FILE is not set: give the path of the EdDSA public key \
         (PEM) that verifies tokens, e.g. examples/api-gateway/keys/dev-public.pem"
    })?;
    let public_key_pem = std::fs::read(&key_file)
        .map_err(|e| format!("JWT_PUBLIC_KEY_FILE={key_file:?}: {e}"))?;
    let settings = Settings {
        public_key_pem,
        users_url: url("USERS_URL", "http://127.0.0.1:3021"),
        orders_url: url("ORDERS_URL", "http://127.0.0.1:3022"),
        per_second: positive("RATE_LIMIT_PER_SECOND", 10)?,
        burst: positive("RATE_LIMIT_BURST", 20)?,
    };
    let gateway = Gateway::new(settings).map_err(|e| {
        format!("JWT_PUBLIC_KEY_FILE={key_file:?} is not an EdDSA key: {e}")
    })?;

    let janitor = gateway.clone();
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            janitor.forget_idle_clients();
        }
    });
    server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| app(gateway, meter)).await
}
// ANCHOR_END: main

fn url(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

fn positive(variable: &str, default: u32) -> Result<NonZeroU32, String> {
    let value = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    value.trim().parse().map_err(|_| {
        format!(
            "{variable}={value:?} is not valid: expected a positive whole number"
        )
    })
}
