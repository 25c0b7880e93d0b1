//! Broken: a blocking flush on a `current_thread` runtime, with the gRPC
//! exporter whose connection is driven by that same runtime.

use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    example_troubleshooting::show_sdk_messages();
    let exporter = SpanExporter::builder().with_tonic().build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();

    example_troubleshooting::checkout(&provider);
    // Blocks the runtime's only thread until the batch thread has exported,
    // but the export waits for a connection task that only this thread runs.
    provider.force_flush()?;
    provider.shutdown()?;
    Ok(())
}
// ANCHOR_END: main
