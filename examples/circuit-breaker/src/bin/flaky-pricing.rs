//! `pricing`, the downstream the breaker protects, with a switch for how it
//! behaves: `PUT /mode` with a body of `ok`, `fail` (every call a 500) or
//! `hang` (every call waits, never answering in time).
//! `GET /price` answers according to the mode.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::json;

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "pricing";
const DEFAULT_PORT: u16 = 3011;

const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        let mode = Arc::new(AtomicU8::new(OK));
        let routes = Router::new()
            .route("/price", get(price))
            .route("/mode", put(set_mode))
            .with_state(mode);
        example_circuit_breaker::http::instrument(routes, meter)
    });
    server::exit_code(served.await)
}

async fn price(State(mode): State<Arc<AtomicU8>>) -> Response {
    match mode.load(Ordering::Relaxed) {
        FAIL => {
            tracing::error!("pricing failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "pricing failed" })),
            )
                .into_response()
        }
        HANG => {
            // Longer than any caller's timeout; graceful shutdown still ends it.
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        _ => Json(json!({ "sku": "book", "price": 42 })).into_response(),
    }
}

async fn set_mode(State(mode): State<Arc<AtomicU8>>, body: String) -> Response {
    let value = match body.trim() {
        "ok" => OK,
        "fail" => FAIL,
        "hang" => HANG,
        other => {
            let message = format!("mode {other:?} is not one of ok, fail, hang");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
                .into_response();
        }
    };
    mode.store(value, Ordering::Relaxed);
    tracing::info!(mode = body.trim(), "mode set");
    StatusCode::NO_CONTENT.into_response()
}
