//! `quotes`: asks `pricing` for a price through a circuit breaker.
//! Run `cargo run --bin flaky-pricing` and `cargo run`, then
//! `curl localhost:3010/quote`. Telemetry goes to `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4318`, OTLP/HTTP).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PRICING_URL` | `http://127.0.0.1:3011` | the downstream |
//! | `PRICING_TIMEOUT_MS` | `250` | a call to pricing gives up after this |
//! | `BREAKER` | `on` | `off` calls pricing directly (the experiment's control) |
//! | `BREAKER_FAILURES` | `3` | consecutive failures that open the circuit |
//! | `BREAKER_OPEN_MS` | `5000` | how long it stays open before a trial call |

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use example_circuit_breaker::{AppState, BreakerSettings, app};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "quotes";
const DEFAULT_PORT: u16 = 3010;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    let settings = BreakerSettings {
        enabled: switch("BREAKER", true)?,
        failures_to_open: number("BREAKER_FAILURES", 3)?,
        open_for: Duration::from_millis(number("BREAKER_OPEN_MS", 5000)?),
    };
    let timeout = Duration::from_millis(number("PRICING_TIMEOUT_MS", 250)?);
    let pricing_url = std::env::var("PRICING_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:3011".to_owned());

    server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        app(AppState::new(pricing_url, timeout, &settings, meter), meter)
    })
    .await
}
// ANCHOR_END: main

/// A positive whole number from `variable`, or `default` when it is unset.
fn number<T: std::str::FromStr + Default + PartialEq>(
    variable: &str,
    default: T,
) -> Result<T, String> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(value) => match value.trim().parse::<T>() {
            Ok(n) if n != T::default() => Ok(n),
            _ => Err(format!(
                "{variable}={value:?} is not valid: expected a positive whole number"
            )),
        },
    }
}

/// `on` or `off` from `variable`, or `default` when it is unset.
fn switch(variable: &str, default: bool) -> Result<bool, String> {
    match std::env::var(variable).as_deref() {
        Err(_) => Ok(default),
        Ok("on") => Ok(true),
        Ok("off") => Ok(false),
        Ok(value) => Err(format!(
            "{variable}={value:?} is not valid: expected `on` or `off`"
        )),
    }
}
