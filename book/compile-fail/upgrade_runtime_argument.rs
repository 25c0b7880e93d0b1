use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

// ANCHOR: case
// opentelemetry_sdk 0.27 and before: the batch processor ran on an async
// runtime passed in.
fn provider(exporter: InMemorySpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter, opentelemetry_sdk::runtime::Tokio)
        .build()
}
// ANCHOR_END: case

fn main() {
    provider(InMemorySpanExporter::default());
}
