use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithHttpConfig};

// ANCHOR: case
// opentelemetry-otlp 0.32, with its `experimental-http-retry` feature: the
// policy was a struct literal from the public `retry` module.
use opentelemetry_otlp::retry::RetryPolicy;

fn exporter() -> Result<SpanExporter, ExporterBuildError> {
    SpanExporter::builder()
        .with_http()
        .with_retry_policy(RetryPolicy {
            max_retries: 5,
            initial_delay_ms: 500,
            max_delay_ms: 30_000,
            jitter_ms: 100,
        })
        .build()
}
// ANCHOR_END: case

fn main() {
    let _ = exporter();
}
