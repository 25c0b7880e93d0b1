//! Broken: an OTLP/gRPC exporter without a TLS feature, given an endpoint
//! without a scheme, which it takes to mean `https://`.

use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Fails here, at start-up: HTTPS, and nothing to speak TLS with.
    let exporter = SpanExporter::builder().with_tonic().build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    drop(provider);
    Ok(())
}
// ANCHOR_END: main
