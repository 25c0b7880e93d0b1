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

fn main() {
    if let Ok((tracer_provider, logger_provider)) = init() {
        let _ = stop(tracer_provider, logger_provider);
    }
    orders(&global::meter("shop"));
    let _ = sampled_provider();
    let _ = finished(&InMemorySpanExporter::default());
}
