//! An axum service whose every request is a trace, a histogram data point and,
//! where it logs, a log record carrying the trace id.
//!
//! Routes: `GET /hello` answers, `GET /fail` fails with a 500, `GET /chain`
//! calls `/hello` over HTTP so that one trace spans a client/server hop.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use opentelemetry::metrics::Meter;
use serde_json::{Value, json};

use crate::http::TracedClient;

pub mod http;

/// What the handlers share: an HTTP client and where this service listens.
#[derive(Clone)]
pub struct AppState {
    client: TracedClient,
    base_url: String,
}

impl AppState {
    /// `base_url` is this service's own address, e.g. `http://127.0.0.1:3000`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            client: TracedClient::new(Duration::from_secs(5)),
            base_url: base_url.into(),
        }
    }
}

// ANCHOR: router
/// The service: three routes, each request a server span and a
/// `http.server.request.duration` data point (`http::instrument`).
pub fn app(state: AppState, meter: &Meter) -> Router {
    let routes = Router::new()
        .route("/hello", get(hello))
        .route("/fail", get(fail))
        .route("/chain", get(chain))
        .with_state(state);
    http::instrument(routes, meter)
}
// ANCHOR_END: router

async fn hello() -> Json<Value> {
    tracing::info!(greeting = "hello", "greeting sent");
    Json(json!({ "message": "hello" }))
}

async fn fail() -> impl IntoResponse {
    tracing::error!(reason = "inventory unavailable", "request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "inventory unavailable" })),
    )
}

// ANCHOR: chain
/// Calls `/hello` on this same service through the traced client: a client
/// span whose context travels in `traceparent`, so the callee's server span
/// joins this trace.
async fn chain(State(state): State<AppState>) -> Response<Body> {
    let url = format!("{}/hello", state.base_url);
    let request = state.client.request(reqwest::Method::GET, &url);
    match state.client.send(request).await {
        Ok(response) if response.status().is_success() => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Json(json!({ "downstream": body })).into_response()
        }
        Ok(response) => {
            bad_gateway(format!("downstream answered {}", response.status()))
        }
        Err(error) => {
            tracing::warn!(error = %error, "downstream call failed");
            bad_gateway(format!("downstream unreachable: {error}"))
        }
    }
}
// ANCHOR_END: chain

fn bad_gateway(message: String) -> Response<Body> {
    (StatusCode::BAD_GATEWAY, Json(json!({ "error": message }))).into_response()
}
