//! The endpoint given in code, from a variable of the program's own
//! (`COLLECTOR`): unlike `OTEL_EXPORTER_OTLP_ENDPOINT`, it is used as given,
//! with no `/v1/traces` appended.

use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
fn main() -> Result<(), Box<dyn std::error::Error>> {
    example_troubleshooting::show_sdk_messages();
    let collector = std::env::var("COLLECTOR")?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(collector)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();

    example_troubleshooting::checkout(&provider);
    provider.shutdown()?;
    Ok(())
}
// ANCHOR_END: main
