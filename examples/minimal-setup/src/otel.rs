//! The smallest correct OpenTelemetry set-up for an axum service: spans from
//! `tracing` exported over OTLP/HTTP, configured by the standard `OTEL_*`
//! variables, the caller's `traceparent` honoured, everything flushed at exit.

// ANCHOR: init
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::{
    propagation::TraceContextPropagator, trace::SdkTracerProvider,
};
use opentelemetry_semantic_conventions::attribute::{
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, prelude::*};

/// Keep the provider until the end of `main`, then `shutdown` it: spans still
/// queued are exported then, not lost.
pub fn init() -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    // Built under the console alone: the SDK warns about a variable it
    // cannot use, and those warnings would otherwise go nowhere.
    let console_only = tracing_subscriber::registry().with(console());
    let provider = tracing::subscriber::with_default(console_only, provider)?;
    global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("minimal-setup");
    tracing_subscriber::registry()
        .with(console())
        // Spans at `info` and above become OpenTelemetry spans.
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(EnvFilter::new("info")),
        )
        .try_init()?;
    Ok(provider)
}

/// The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (default
/// http://localhost:4318) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, and the
/// HEADERS and TIMEOUT variables; the provider's resource reads
/// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, its sampler
/// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, its batch processor
/// OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE and
/// OTEL_BSP_MAX_EXPORT_BATCH_SIZE.
fn provider() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = SpanExporter::builder().with_http().build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build())
}

/// The console, as before: `RUST_LOG`, default `info`.
fn console<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt::layer().with_filter(filter)
}
// ANCHOR_END: init

// ANCHOR: server_span
/// For tower-http's `TraceLayer`: a server span named after the route, the
/// child of the caller's span when the request carries `traceparent`.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {}", route.unwrap_or_default()).trim_end(),
        otel.kind = "server",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
    );
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // An error only when no OpenTelemetry layer is installed.
    let _ = span.set_parent(parent);
    span
}

/// For `TraceLayer::on_response`: the status code, and a 5xx marks the span
/// as an error.
pub fn on_response<B>(response: &Response<B>, _: Duration, span: &Span) {
    let status = response.status();
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}
// ANCHOR_END: server_span
