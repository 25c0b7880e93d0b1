//! `checkout`: a price lookup (a GET, always safe to retry) and an order
//! that charges a payment (a POST, safe to retry only with an idempotency
//! key), both through the [`Retrier`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::metrics::Meter;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::retry::{Failure, IDEMPOTENCY_KEY, Retrier};

/// The service's state: the retrier and where payments is.
#[derive(Clone)]
pub struct Checkout {
    pub retrier: Arc<Retrier>,
    pub payments_url: String,
}

/// The routes, each request a server span and a duration data point.
pub fn app(checkout: Checkout, meter: &Meter) -> Router {
    let router = Router::new()
        .route("/price/{sku}", get(price))
        .route("/orders", post(order))
        .with_state(checkout);
    crate::http::instrument(router, meter)
}

// ANCHOR: routes
async fn price(
    State(checkout): State<Checkout>,
    Path(sku): Path<String>,
) -> Response {
    let url = format!("{}/prices/{sku}", checkout.payments_url);
    let client = checkout.retrier.client();
    let answer = checkout
        .retrier
        .call("fetch price", || client.request(Method::GET, &url))
        .await;
    relay(answer, StatusCode::OK).await
}

/// An order; with an `order_id`, its charge carries it as idempotency key.
#[derive(Debug, Deserialize)]
pub struct OrderRequest {
    pub order_id: Option<String>,
    pub amount: u64,
}

async fn order(
    State(checkout): State<Checkout>,
    Json(order): Json<OrderRequest>,
) -> Response {
    let url = format!("{}/charges", checkout.payments_url);
    let client = checkout.retrier.client();
    let charge = || {
        let request = client
            .request(Method::POST, &url)
            .json(&json!({ "amount": order.amount }));
        match &order.order_id {
            Some(id) => request.header(IDEMPOTENCY_KEY, id),
            None => request,
        }
    };
    let answer = checkout.retrier.call("charge payment", charge).await;
    relay(answer, StatusCode::CREATED).await
}
// ANCHOR_END: routes

/// The downstream's answer passed on: its JSON with `success` for a 2xx,
/// its status for a 4xx; 502 (or 504 for a timeout) when it failed.
async fn relay(
    answer: Result<reqwest::Response, Failure>,
    success: StatusCode,
) -> Response {
    match answer {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let status = if status.is_success() {
                success
            } else {
                StatusCode::from_u16(status.as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY)
            };
            (status, Json(body)).into_response()
        }
        Err(failure) => {
            let status = match &failure {
                Failure::Transport {
                    kind: "timeout", ..
                } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            (status, Json(json!({ "error": failure.to_string() }))).into_response()
        }
    }
}
