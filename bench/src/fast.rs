//! Spans made by `fastrace` and exported through its OpenTelemetry reporter
//! with the OTLP/HTTP span exporter (`OTEL_EXPORTER_OTLP_*` variables).
//! Spans only: fastrace makes no metrics, and its logs go through another
//! crate (`logforth`), so this mode is compared with the book's spans-only
//! one.
//!
//! fastrace ships no HTTP server layer; the middleware below is the
//! smallest one that continues a caller's `traceparent`.

use std::borrow::Cow;

use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use fastrace::Span;
use fastrace::collector::{Config, SpanContext};
use fastrace::future::FutureExt as _;
use fastrace::local::LocalSpan;
use fastrace_opentelemetry::OpenTelemetryReporter;
use opentelemetry::InstrumentationScope;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Sets fastrace's global reporter. Call [`flush`] before exit.
pub fn init(service_name: &'static str) -> Result<(), Error> {
    let exporter = SpanExporter::builder().with_http().build()?;
    let resource = Resource::builder().with_service_name(service_name).build();
    let reporter = OpenTelemetryReporter::new(
        exporter,
        Cow::Owned(resource),
        InstrumentationScope::builder(service_name).build(),
    );
    fastrace::set_reporter(reporter, Config::default());
    Ok(())
}

/// Reports every span still held.
pub fn flush() {
    fastrace::flush();
}

/// `router` with a server span per request.
pub fn instrument(router: axum::Router) -> axum::Router {
    router.layer(middleware::from_fn(server_span))
}

async fn server_span(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let parent = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(SpanContext::decode_w3c_traceparent);
    let remote = parent.is_some();
    let span = Span::root(
        format!("{method} {route}"),
        parent.unwrap_or_else(SpanContext::random),
    )
    .with_properties(|| {
        [
            ("span.kind", "server".to_owned()),
            ("span.parent_span_is_remote", remote.to_string()),
            ("http.request.method", method),
            ("http.route", route),
            ("url.path", request.uri().path().to_owned()),
            ("url.scheme", "http".to_owned()),
        ]
    });
    async move {
        let response = next.run(request).await;
        let status = response.status();
        LocalSpan::add_property(|| {
            ("http.response.status_code", status.as_str().to_owned())
        });
        if status.is_server_error() {
            LocalSpan::add_property(|| ("span.status_code", "error".to_owned()));
        }
        response
    }
    .in_span(span)
    .await
}
