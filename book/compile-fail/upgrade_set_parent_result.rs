use opentelemetry::Context;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: case
// tracing-opentelemetry 0.31 and before: `set_parent` returned nothing.
fn adopt(span: &tracing::Span, parent: Context) {
    span.set_parent(parent)
}
// ANCHOR_END: case

fn main() {
    adopt(&tracing::Span::none(), Context::new());
}
