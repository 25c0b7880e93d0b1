//! Broken: OTLP/HTTP without an HTTP client feature.

use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Fails here, at start-up, with a message that names the missing feature.
    let exporter = SpanExporter::builder().with_http().build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    drop(provider);
    Ok(())
}
// ANCHOR_END: main
