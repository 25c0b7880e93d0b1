//! Datadog: a checkout service whose traces reach the Datadog Agent over
//! OTLP, whose business metrics go to DogStatsD, and whose JSON log lines
//! carry the ids that link them to their traces. It calls `pricing`
//! (`pricing/`), whose spans reach the same Agent through the native
//! Datadog exporter.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use cadence::StatsdClient;
use cadence::prelude::*;
use opentelemetry::metrics::Meter;
use serde::{Deserialize, Serialize};

pub mod dogstatsd;
pub mod http;
pub mod logs;
pub mod server;
pub mod telemetry;
pub mod unified;

use http::TracedClient;

/// The most items one order may hold.
pub const MAX_QUANTITY: i64 = 100;

/// An order, as `POST /checkout` takes it.
#[derive(Debug, Deserialize)]
pub struct Order {
    pub sku: String,
    pub quantity: i64,
}

/// A placed order.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub sku: String,
    pub quantity: i64,
    pub total_cents: i64,
}

#[derive(Deserialize)]
struct Quote {
    cents: i64,
}

#[derive(Clone)]
struct Checkout {
    client: TracedClient,
    pricing_url: String,
    statsd: std::sync::Arc<StatsdClient>,
}

/// The service: `POST /checkout` prices an order with `pricing`.
pub fn app(meter: &Meter, pricing_url: String, statsd: StatsdClient) -> Router {
    let state = Checkout {
        client: TracedClient::new(Duration::from_secs(5)),
        pricing_url,
        statsd: std::sync::Arc::new(statsd),
    };
    let router = Router::new()
        .route("/checkout", post(checkout))
        .with_state(state);
    http::instrument(router, meter)
}

// ANCHOR: checkout
#[tracing::instrument(
    name = "place order",
    skip_all,
    fields(order.sku = %order.sku)
)]
async fn checkout(
    State(state): State<Checkout>,
    Json(order): Json<Order>,
) -> Result<(StatusCode, Json<Receipt>), (StatusCode, String)> {
    let outcome = place(&state, &order).await;
    let label = match &outcome {
        Ok(_) => "placed",
        Err((status, _)) if status.is_client_error() => "rejected",
        Err(_) => "failed",
    };
    // DogStatsD: a count per outcome, tagged. `send` hands a failure to the
    // client's error handler (logged at debug); it never fails the request.
    state
        .statsd
        .count_with_tags("checkout.orders", 1)
        .with_tag("sku", &order.sku)
        .with_tag("outcome", label)
        .send();
    match outcome {
        Ok(receipt) => {
            state
                .statsd
                .distribution_with_tags(
                    "checkout.order.value",
                    receipt.total_cents as f64,
                )
                .with_tag("sku", &order.sku)
                .send();
            tracing::info!(total_cents = receipt.total_cents, "order placed");
            Ok((StatusCode::CREATED, Json(receipt)))
        }
        Err((status, message)) => {
            let code = i64::from(status.as_u16());
            tracing::warn!(
                http.response.status_code = code,
                reason = %message,
                "order not placed"
            );
            Err((status, message))
        }
    }
}
// ANCHOR_END: checkout

async fn place(
    state: &Checkout,
    order: &Order,
) -> Result<Receipt, (StatusCode, String)> {
    if !(1..=MAX_QUANTITY).contains(&order.quantity) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("quantity is 1 to {MAX_QUANTITY}, not {}", order.quantity),
        ));
    }
    let url = format!("{}/price/{}", state.pricing_url, order.sku);
    let request = state.client.request(reqwest::Method::GET, &url);
    let response = state.client.send(request).await.map_err(|e| {
        tracing::error!(error = %e, "pricing unreachable");
        (StatusCode::BAD_GATEWAY, format!("pricing: {e}"))
    })?;
    let status = response.status();
    if status.is_client_error() {
        let reason = response.text().await.unwrap_or_default();
        return Err((StatusCode::UNPROCESSABLE_ENTITY, reason));
    }
    if !status.is_success() {
        return Err((
            StatusCode::BAD_GATEWAY,
            format!("pricing answered {status}"),
        ));
    }
    let quote: Quote = response.json().await.map_err(|e| {
        (
            StatusCode::BAD_GATEWAY,
            format!("pricing sent no quote: {e}"),
        )
    })?;
    Ok(Receipt {
        sku: order.sku.clone(),
        quantity: order.quantity,
        total_cents: quote.cents * order.quantity,
    })
}
