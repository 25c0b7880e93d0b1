use opentelemetry_otlp::{Compression, ExporterBuildError};

// ANCHOR: case
// opentelemetry-otlp 0.32 and before: a compression name that did not parse
// was an exporter build error.
fn compression(value: &str) -> Option<Compression> {
    let parsed: Result<Compression, ExporterBuildError> = value.parse();
    match parsed {
        Ok(compression) => Some(compression),
        Err(ExporterBuildError::UnsupportedCompressionAlgorithm(name)) => {
            eprintln!("unsupported compression: {name}");
            None
        }
        Err(_) => None,
    }
}
// ANCHOR_END: case

fn main() {
    let _ = compression("gzip");
}
