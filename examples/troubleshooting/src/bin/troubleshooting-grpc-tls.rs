//! Fixed: OTLP/gRPC over TLS, trusting the platform's roots. The exporter
//! loads none unless its TLS config says so, even with the `tls-roots`
//! feature on.

use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{SpanExporter, WithTonicConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;

// ANCHOR: main
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    example_troubleshooting::show_sdk_messages();
    let tls = ClientTlsConfig::new().with_native_roots();
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_tls_config(tls)
        .build()?;
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
