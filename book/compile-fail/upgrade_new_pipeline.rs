// ANCHOR: case
// opentelemetry-otlp 0.26 and before: a pipeline that built the exporter
// and the provider (and up to 0.16 also installed it globally).
fn init() {
    let _provider = opentelemetry_otlp::new_pipeline()
        .tracing()
        .with_exporter(opentelemetry_otlp::new_exporter().http())
        .install_simple();
}
// ANCHOR_END: case

fn main() {
    init();
}
