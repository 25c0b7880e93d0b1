//! One set of OpenTelemetry instruments, two paths to Prometheus: `/metrics`,
//! which a Prometheus server scrapes (a second reader on the meter
//! provider), and OTLP, which the usual periodic exporter pushes.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use prometheus::{Encoder as _, TextEncoder};
use serde::Deserialize;

pub mod http;
pub mod server;
pub mod telemetry;

// ANCHOR: instruments
/// The service's own instruments, beside the HTTP duration `http.rs` records.
#[derive(Clone)]
pub struct Metrics {
    /// A counter: Prometheus adds `_total`.
    greetings: Counter<u64>,
    /// A histogram in bytes: Prometheus adds `_bytes`.
    greeting_size: Histogram<u64>,
}

impl Metrics {
    pub fn new(meter: &Meter) -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        // A gauge in seconds, read at each collection: `_seconds`.
        meter
            .f64_observable_gauge("app.start_time")
            .with_unit("s")
            .with_description("When the process started, in seconds since the epoch")
            .with_callback(move |observer| observer.observe(started, &[]))
            .build();
        Metrics {
            greetings: meter
                .u64_counter("app.greetings")
                .with_unit("{greeting}")
                .with_description("Greetings sent, by language")
                .build(),
            greeting_size: meter
                .u64_histogram("app.greeting.size")
                .with_unit("By")
                .with_description("Size of the greetings sent")
                .with_boundaries(vec![8.0, 16.0, 32.0, 64.0])
                .build(),
        }
    }
}
// ANCHOR_END: instruments

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    registry: Arc<prometheus::Registry>,
}

#[derive(Deserialize)]
struct Greeting {
    lang: Option<String>,
}

// ANCHOR: app
/// `/hello` and `/fail`, traced and measured; `/metrics` for the scrapes,
/// neither traced nor measured: a span per scrape is noise.
pub fn app(meter: &Meter, registry: prometheus::Registry) -> Router {
    let state = AppState {
        metrics: Metrics::new(meter),
        registry: Arc::new(registry),
    };
    let traced = Router::new()
        .route("/hello", get(hello))
        .route("/fail", get(fail))
        .with_state(state.clone());
    let scraped = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state);
    http::instrument(traced, meter).merge(scraped)
}
// ANCHOR_END: app

async fn hello(
    State(state): State<AppState>,
    Query(greeting): Query<Greeting>,
) -> Response {
    let (lang, text) = match greeting.lang.as_deref().unwrap_or("en") {
        "en" => ("en", "hello"),
        "fr" => ("fr", "bonjour"),
        other => {
            let message = format!("no greeting in {other:?}; try en or fr");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let language = [KeyValue::new("greeting.language", lang)];
    state.metrics.greetings.add(1, &language);
    state
        .metrics
        .greeting_size
        .record(text.len() as u64, &language);
    tracing::info!(lang, "greeting sent");
    text.into_response()
}

async fn fail() -> Response {
    tracing::error!("request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "failed on purpose").into_response()
}

// ANCHOR: metrics
/// The Prometheus text format, from the registry the reader fills.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut body) {
        Ok(()) => {
            ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response()
        }
        Err(error) => {
            let message = format!("cannot encode the metrics: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}
// ANCHOR_END: metrics
