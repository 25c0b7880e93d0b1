// ANCHOR: case
// opentelemetry_sdk 0.27 and before: the SDK's providers had the API's
// trait names.
use opentelemetry_sdk::logs::LoggerProvider;
use opentelemetry_sdk::trace::TracerProvider;
// ANCHOR_END: case

fn main() {
    let _ = TracerProvider::builder();
    let _ = LoggerProvider::builder();
}
