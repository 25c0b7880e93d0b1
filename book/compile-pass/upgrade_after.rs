//! What each call of the upgrade notes became in 0.33, compiled.

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt as _;

// ANCHOR: pipeline
use opentelemetry_otlp::{LogExporter, SpanExporter};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

fn init()
-> Result<(SdkTracerProvider, SdkLoggerProvider), Box<dyn std::error::Error>> {
    // The exporter, then the provider that batches into it, on a thread of
    // its own: no runtime argument.
    let spans = SpanExporter::builder().with_http().build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .build();
    let logs = LogExporter::builder().with_http().build()?;
    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .build();
    // Installing is your code's job now, and optional.
    global::set_tracer_provider(tracer_provider.clone());
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer_provider.tracer("shop")),
        )
        // A service also keeps the exporter's own crates out of this layer
        // (see the Filtering chapter).
        .with(OpenTelemetryTracingBridge::new(&logger_provider));
    tracing::subscriber::set_global_default(subscriber)?;
    Ok((tracer_provider, logger_provider))
}
// ANCHOR_END: pipeline

// ANCHOR: shutdown
fn stop(
    tracer_provider: SdkTracerProvider,
    logger_provider: SdkLoggerProvider,
) -> Result<(), Box<dyn std::error::Error>> {
    // Keep the providers `init` returned; shut each one down.
    tracer_provider.shutdown()?;
    logger_provider.shutdown()?;
    Ok(())
}
// ANCHOR_END: shutdown

// ANCHOR: resource
fn resource() -> Resource {
    // The default detectors still run (`builder_empty()` is the one
    // without them), but what is set here comes after them: this name wins
    // over OTEL_SERVICE_NAME. Set one only when the variables name none.
    Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("deployment.environment.name", "prod"))
        .build()
}
// ANCHOR_END: resource

// ANCHOR: instrument
fn orders(meter: &Meter) {
    let counter = meter.u64_counter("shop.orders").build();
    counter.add(1, &[]);
}
// ANCHOR_END: instrument

// ANCHOR: sampler
use opentelemetry_sdk::trace::Sampler;

fn sampled_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            0.1,
        ))))
        .with_resource(resource())
        .build()
}
// ANCHOR_END: sampler

// ANCHOR: test_types
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

fn finished(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().unwrap_or_default()
}
// ANCHOR_END: test_types

// ANCHOR: span_builder
use opentelemetry::trace::{Span as _, Status, Tracer};
use std::time::SystemTime;

fn imported_job<T: Tracer>(tracer: &T, started: SystemTime, ended: SystemTime) {
    // The builder keeps what is known before the span starts...
    let mut span = tracer
        .span_builder("import")
        .with_start_time(started)
        .start(tracer);
    // ...the status and the end go to the started span.
    span.set_status(Status::error("timed out"));
    span.end_with_timestamp(ended);
}
// ANCHOR_END: span_builder

// ANCHOR: sampling
use opentelemetry::Context;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};

/// Drops the health checks' spans and keeps the others.
#[derive(Clone, Debug)]
struct DropHealthChecks;

impl ShouldSample for DropHealthChecks {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if name == "GET /health" {
            SamplingDecision::Drop
        } else {
            SamplingDecision::RecordAndSample
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            // Pass the caller's tracestate on.
            trace_state: parent_context
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

fn health_checks_dropped() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(DropHealthChecks)
        .build()
}
// ANCHOR_END: sampling

// ANCHOR: retry
use opentelemetry_otlp::{ExporterBuildError, RetryPolicy, WithHttpConfig as _};
use std::time::Duration;

fn patient_exporter() -> Result<SpanExporter, ExporterBuildError> {
    // Retries are on by default: 3 of them, after about 100, 200 and
    // 400 ms. `RetryPolicy::disabled()` makes one attempt only.
    SpanExporter::builder()
        .with_http()
        .with_retry_policy(
            RetryPolicy::default()
                .with_max_retries(5)
                .with_initial_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(30))
                .with_max_jitter(Duration::from_millis(100)),
        )
        .build()
}
// ANCHOR_END: retry

// ANCHOR: compression
use opentelemetry_otlp::{Compression, ParseConfigError};

fn compression(value: &str) -> Option<Compression> {
    let parsed: Result<Compression, ParseConfigError> = value.parse();
    match parsed {
        Ok(compression) => Some(compression),
        // An opaque error: its message is for people, not for a `match`.
        Err(error) => {
            eprintln!("ignoring OTLP compression {value:?}: {error}");
            None
        }
    }
}
// ANCHOR_END: compression

// ANCHOR: set_parent
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

fn server_span(headers: &HashMap<String, String>) -> tracing::Span {
    let span = tracing::info_span!("HTTP request", otel.kind = "server");
    let parent =
        global::get_text_map_propagator(|propagator| propagator.extract(headers));
    // Before the span is first entered: once its OpenTelemetry span has
    // started, the parent is fixed and this returns `Err(AlreadyStarted)`.
    if let Err(error) = span.set_parent(parent) {
        eprintln!("the span stays a root: {error}");
    }
    span
}
// ANCHOR_END: set_parent

// ANCHOR: trace_id
// With `TraceContextExt` and `OpenTelemetrySpanExt` in scope, as above.

fn current_trace_id() -> Option<opentelemetry::TraceId> {
    // `context()` starts the span's OpenTelemetry span if entering it has
    // not already: set the parent first.
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id())
}
// ANCHOR_END: trace_id

fn main() {
    if let Ok((tracer_provider, logger_provider)) = init() {
        let _ = stop(tracer_provider, logger_provider);
    }
    orders(&global::meter("shop"));
    let provider = sampled_provider();
    let _ = finished(&InMemorySpanExporter::default());
    imported_job(
        &provider.tracer("import"),
        SystemTime::now(),
        SystemTime::now(),
    );
    let _ = health_checks_dropped();
    let _ = patient_exporter();
    let _ = compression("gzip");
    let _ = server_span(&HashMap::new());
    let _ = current_trace_id();
}
