//! An axum service that had `tracing` and tower-http's `TraceLayer`, with
//! OpenTelemetry added: `src/otel.rs` and the lines marked
//! `OpenTelemetry` below. Run with `cargo run`, then
//! `curl localhost:3000/orders/7`. Spans go to `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (default `http://localhost:4318`, OTLP/HTTP).

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tower_http::trace::TraceLayer;

mod otel;

// ANCHOR: main
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = otel::init()?; // OpenTelemetry

    let app = Router::new().route("/orders/{id}", get(order)).layer(
        TraceLayer::new_for_http()
            .make_span_with(otel::server_span) // OpenTelemetry
            .on_response(otel::on_response) // OpenTelemetry
            .on_failure(()), // on_response marks a 5xx already
    );
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let port: u16 = port
        .parse()
        .map_err(|_| format!("PORT={port:?} is not a port"))?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!("listening on http://{}", listener.local_addr()?);

    let mut terminate = signal(SignalKind::terminate())?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        })
        .await?;
    // OpenTelemetry: export what is still queued.
    if let Err(error) = provider.shutdown() {
        eprintln!("exporting the last spans: {error}");
    }
    Ok(())
}
// ANCHOR_END: main

// ANCHOR: handlers
/// `GET /orders/{id}`: the order's price; order 0 does not exist (a 500 here,
/// to show an error span).
#[tracing::instrument(skip_all, fields(order.id = id))]
async fn order(Path(id): Path<u64>) -> (StatusCode, axum::Json<Value>) {
    match price(id).await {
        Some(total) => {
            tracing::info!(order.total = total, "order priced");
            (
                StatusCode::OK,
                axum::Json(json!({ "id": id, "total": total })),
            )
        }
        None => {
            tracing::error!("no price for this order");
            let body = json!({ "error": format!("no price for order {id}") });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body))
        }
    }
}

/// A call the service makes: its own span, child of the handler's.
#[tracing::instrument(skip_all)]
async fn price(id: u64) -> Option<u64> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    id.checked_mul(250).filter(|_| id != 0)
}
// ANCHOR_END: handlers
