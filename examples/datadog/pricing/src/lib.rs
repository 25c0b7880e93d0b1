//! pricing: quotes a price per item. Its spans go to the Datadog Agent's
//! native trace intake (`/v0.5/traces`) through `opentelemetry-datadog`, on
//! the OpenTelemetry 0.32 line, with the OpenTelemetry API used directly.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_http::HeaderExtractor;
use serde::Serialize;

/// The instrumentation scope: the exporter makes it each span's Datadog
/// operation name, and the span's own name its resource.
pub const SCOPE: &str = "pricing";

/// A quote, as `GET /price/{sku}` returns it.
#[derive(Debug, Serialize)]
pub struct Quote {
    pub sku: String,
    pub cents: i64,
}

/// The whole service.
pub fn app() -> Router {
    Router::new().route("/price/{sku}", get(price))
}

// ANCHOR: server_span
/// A server span per request, continuing the caller's W3C `traceparent`.
async fn price(Path(sku): Path<String>, headers: HeaderMap) -> Response {
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(&headers))
    });
    let tracer = global::tracer(SCOPE);
    let span = tracer
        .span_builder("GET /price/{sku}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/price/{sku}"),
        ])
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let (status, response) = {
        let _attached = cx.clone().attach();
        quote(&sku)
    };
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_status(Status::error(status.as_str().to_owned()));
    }
    span.end();
    (status, response).into_response()
}
// ANCHOR_END: server_span

// ANCHOR: quote
/// Looks the price up, in a child span of the request's.
fn quote(sku: &str) -> (StatusCode, Response) {
    let tracer = global::tracer(SCOPE);
    let mut span = tracer.start_with_context("quote", &Context::current());
    span.set_attribute(KeyValue::new("pricing.sku", sku.to_owned()));
    let answer = if !valid_sku(sku) {
        let message = "a sku is 1 to 32 lowercase letters, digits or '-'";
        (StatusCode::BAD_REQUEST, message.into_response())
    } else {
        match price_of(sku) {
            Some(cents) => {
                span.set_attribute(KeyValue::new("pricing.cents", cents));
                let quote = Quote {
                    sku: sku.to_owned(),
                    cents,
                };
                (StatusCode::OK, Json(quote).into_response())
            }
            None => {
                let message = format!("no price for {sku}");
                (StatusCode::NOT_FOUND, message.into_response())
            }
        }
    };
    span.end();
    answer
}
// ANCHOR_END: quote

/// Lowercase letters, digits and `-`, 1 to 32 of them.
pub fn valid_sku(sku: &str) -> bool {
    (1..=32).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The price list, in cents.
pub fn price_of(sku: &str) -> Option<i64> {
    match sku {
        "tea" => Some(450),
        "coffee" => Some(380),
        "cake" => Some(520),
        _ => None,
    }
}
