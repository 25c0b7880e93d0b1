//! Fixed: keep the provider and shut it down before exit. This program is
//! also the one the endpoint cases run, with different variables.

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
    // Exports what is queued, then stops the batch thread.
    provider.shutdown()?;
    Ok(())
}
// ANCHOR_END: main
