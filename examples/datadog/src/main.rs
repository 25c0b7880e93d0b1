//! The checkout service: `PRICING_URL=http://127.0.0.1:3111 cargo run -p
//! example-datadog`, with `cargo run -p example-datadog-pricing` beside it,
//! then `curl -X POST localhost:3110/checkout -H 'content-type:
//! application/json' -d '{"sku":"tea","quantity":2}'`.

use std::process::ExitCode;

use example_datadog::logs::DatadogJson;
use example_datadog::unified::UnifiedTags;
use example_datadog::{app, dogstatsd, server, telemetry};

/// `service` when `DD_SERVICE` is not set.
const SERVICE_NAME: &str = "checkout";
const DEFAULT_PORT: u16 = 3110;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let tags = UnifiedTags::from_env(SERVICE_NAME);
    let statsd = match dogstatsd::client(&tags) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pricing_url = std::env::var("PRICING_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:3111".to_owned());
    let extensions = telemetry::Extensions {
        resource: tags.resource(),
        console: Some(Box::new(DatadogJson::new(tags.clone(), std::io::stdout))),
        ..telemetry::Extensions::default()
    };
    let served =
        server::serve_with(SERVICE_NAME, DEFAULT_PORT, extensions, |meter, _| {
            app(meter, pricing_url, statsd)
        });
    server::exit_code(served.await)
}
// ANCHOR_END: main
