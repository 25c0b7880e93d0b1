//! Fixed: the same `current_thread` runtime, but the blocking flush runs on
//! tokio's blocking pool, so the runtime's thread stays free to drive the
//! gRPC connection the export needs.

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
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush()).await??;
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    Ok(())
}
// ANCHOR_END: main
