//! What one piece of telemetry costs the thread that makes it, piece by
//! piece: the figures that explain `cargo xtask bench overhead`'s.
//!
//! `cargo bench -p telemetry-cost` measures; `cargo test -p telemetry-cost
//! --benches` runs each benchmark once (Criterion's test mode), which is
//! what CI does so that a broken benchmark fails it.
//!
//! Spans and log records end in a processor that drops them: the export
//! path is measured on its own, as the OTLP encoding of a batch.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData, SpanProcessor,
};
use prost::Message as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Ends every span and log record without exporting it.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

impl LogProcessor for Discard {
    fn emit(
        &self,
        record: &mut SdkLogRecord,
        _: &opentelemetry::InstrumentationScope,
    ) {
        black_box(record);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

fn tracer_provider(sampled: bool) -> SdkTracerProvider {
    let sampler = match sampled {
        true => Sampler::AlwaysOn,
        false => Sampler::AlwaysOff,
    };
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(Discard)
        .build()
}

/// The attributes of the book's server span, then more, `n` in all.
fn attributes(n: usize) -> Vec<KeyValue> {
    let all = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/hello"),
        KeyValue::new("url.path", "/hello"),
        KeyValue::new("url.scheme", "http"),
        KeyValue::new("http.response.status_code", 200),
        KeyValue::new("server.address", "localhost"),
        KeyValue::new("server.port", 3000),
        KeyValue::new("user_agent.original", "wrk"),
    ];
    all.into_iter().take(n).collect()
}

/// The book's server span as `tracing` makes it: its first four
/// attributes, then any more given.
macro_rules! server_span {
    ($($more:tt)*) => {
        tracing::info_span!(
            "GET /hello",
            http.request.method = "GET",
            http.route = "/hello",
            url.path = "/hello",
            url.scheme = "http",
            $($more)*
        )
    };
}

/// One span with 0, 4 or 8 attributes, sampled and not, through the
/// OpenTelemetry API and through `tracing` with tracing-opentelemetry.
fn spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");
    for sampled in [true, false] {
        let label = if sampled { "sampled" } else { "unsampled" };
        let provider = tracer_provider(sampled);
        let tracer = provider.tracer("bench");
        for n in [0, 4, 8] {
            let attributes = attributes(n);
            group.bench_function(format!("api/{label}/{n} attributes"), |b| {
                b.iter(|| {
                    let mut span = tracer
                        .span_builder("GET /hello")
                        .with_attributes(attributes.clone())
                        .start(&tracer);
                    span.end();
                })
            });
        }
        // The span layer as the book's telemetry module configures it.
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bench"))
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(format!("tracing/{label}/0 attributes"), |b| {
                b.iter(|| drop(tracing::info_span!("GET /hello").entered()))
            });
            group.bench_function(format!("tracing/{label}/4 attributes"), |b| {
                b.iter(|| drop(server_span!().entered()))
            });
            group.bench_function(format!("tracing/{label}/8 attributes"), |b| {
                b.iter(|| {
                    drop(
                        server_span!(
                            http.response.status_code = 200i64,
                            server.address = "localhost",
                            server.port = 3000i64,
                            user_agent.original = "wrk",
                        )
                        .entered(),
                    )
                })
            });
        });
    }
    // The layer with tracing-opentelemetry's defaults: source location,
    // thread, target, busy and idle time on every span.
    let provider = tracer_provider(true);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing, layer defaults/sampled/4 attributes", |b| {
            b.iter(|| drop(server_span!().entered()))
        });
    });
    // No OpenTelemetry layer at all: what `tracing` itself costs.
    tracing::subscriber::with_default(tracing_subscriber::registry(), || {
        group.bench_function("tracing/registry only/0 attributes", |b| {
            b.iter(|| drop(tracing::info_span!("GET /hello").entered()))
        });
    });
    group.finish();
}

/// One `tracing` event made a log record by the bridge, inside and outside
/// a span.
fn log_records(c: &mut Criterion) {
    let logger = SdkLoggerProvider::builder()
        .with_log_processor(Discard)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(OpenTelemetryTracingBridge::new(&logger));
    let mut group = c.benchmark_group("log record");
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("bridge/2 fields", |b| {
            b.iter(|| tracing::info!(greeting = "hello", "greeting sent"))
        });
    });
    group.finish();
}

/// One data point on the book's request histogram, with its four attributes.
fn histogram_point(c: &mut Criterion) {
    // A reader as the services have one, that never reads during the run.
    let reader = PeriodicReader::builder(InMemoryMetricExporter::default())
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let histogram = opentelemetry::metrics::MeterProvider::meter(&provider, "bench")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .build();
    let attributes = attributes(5)
        .into_iter()
        .filter(|kv| kv.key.as_str() != "url.path")
        .collect::<Vec<_>>();
    c.bench_function("histogram point/4 attributes", |b| {
        b.iter(|| histogram.record(black_box(0.000_120), &attributes))
    });
}

/// A batch of 512 spans with 8 attributes each turned into an OTLP
/// protobuf body: what the batch processor's thread does per export.
fn otlp_encoding(c: &mut Criterion) {
    const BATCH: usize = 512;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("bench");
    for _ in 0..BATCH {
        tracer
            .span_builder("GET /hello")
            .with_attributes(attributes(8))
            .start(&tracer)
            .end();
    }
    let spans = exporter
        .get_finished_spans()
        .expect("the in-memory exporter");
    assert_eq!(spans.len(), BATCH, "every span reached the exporter");
    let resource = ResourceAttributesWithSchema::from(
        &Resource::builder().with_service_name("bench").build(),
    );
    let mut group = c.benchmark_group("otlp encoding");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("512 spans, 8 attributes", |b| {
        b.iter_batched(
            || spans.clone(),
            |spans| {
                let request = ExportTraceServiceRequest {
                    resource_spans: group_spans_by_resource_and_scope(
                        spans, &resource,
                    ),
                };
                request.encode_to_vec()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, spans, log_records, histogram_point, otlp_encoding);
criterion_main!(benches);
