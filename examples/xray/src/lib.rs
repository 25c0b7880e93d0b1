//! Two services in the AWS X-Ray style: trace ids whose first 32 bits are
//! the time (X-Ray rejects ids older than 30 days or in the future), and
//! the context in `X-Amzn-Trace-Id` instead of `traceparent`.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use opentelemetry::metrics::Meter;
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};

use crate::http::TracedClient;

pub mod http;
pub mod server;
pub mod telemetry;

// ANCHOR: extensions
/// The book's set-up, with X-Ray's id generator and propagator.
pub fn xray() -> telemetry::Extensions {
    telemetry::Extensions {
        traces: Some(Box::new(|traces| {
            traces.with_id_generator(XrayIdGenerator::default())
        })),
        propagators: vec![Box::new(XrayPropagator::default())],
        ..telemetry::Extensions::default()
    }
}
// ANCHOR_END: extensions

#[derive(Clone)]
struct Checkout {
    client: TracedClient,
    pricing_url: String,
}

/// The front service: `/checkout` asks `pricing` for a price.
pub fn checkout(meter: &Meter, pricing_url: String) -> Router {
    let state = Checkout {
        client: TracedClient::new(Duration::from_secs(5)),
        pricing_url,
    };
    let router = Router::new()
        .route("/checkout", get(checkout_handler))
        .with_state(state);
    http::instrument(router, meter)
}

async fn checkout_handler(
    State(state): State<Checkout>,
) -> Result<String, (StatusCode, String)> {
    let url = format!("{}/price", state.pricing_url);
    let request = state.client.request(reqwest::Method::GET, &url);
    let response = state.client.send(request).await.map_err(|e| {
        tracing::error!(error = %e, "pricing unreachable");
        (StatusCode::BAD_GATEWAY, format!("pricing: {e}"))
    })?;
    let price = response.text().await.unwrap_or_default();
    tracing::info!(%price, "checked out");
    Ok(format!("total: {price}"))
}

/// The pricing service.
pub fn pricing(meter: &Meter) -> Router {
    let router = Router::new().route(
        "/price",
        get(|| async {
            tracing::info!("price quoted");
            "42.00"
        }),
    );
    http::instrument(router, meter)
}
