//! Broken: the provider lives only in the global slot, which is never dropped,
//! so nothing shuts it down and the batch still queued at exit is lost.

use opentelemetry::global;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    example_troubleshooting::show_sdk_messages();
    let exporter = SpanExporter::builder().with_http().build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    global::set_tracer_provider(provider.clone());

    example_troubleshooting::checkout(&provider);
    // `provider` is dropped here, but the global slot holds a clone: the
    // last reference never goes, so neither does the queued span.
    Ok(())
}
// ANCHOR_END: main
