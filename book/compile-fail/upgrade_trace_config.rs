use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

// ANCHOR: case
// opentelemetry_sdk 0.28 and before: sampler, limits and resource in a
// `Config`.
fn provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_config(
            opentelemetry_sdk::trace::Config::default()
                .with_sampler(Sampler::TraceIdRatioBased(0.1)),
        )
        .build()
}
// ANCHOR_END: case

fn main() {
    provider();
}
