use opentelemetry::TraceId;
use tracing::Subscriber;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

// ANCHOR: case
// tracing-opentelemetry 0.32: a layer (a log formatter that prints trace
// ids, say) read the span's `OtelData` from its extensions. Before 0.32 it
// read the public fields, `builder.trace_id` or `parent_cx`.
use tracing_opentelemetry::OtelData;

fn trace_id<S>(span: &SpanRef<'_, S>) -> Option<TraceId>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span.extensions().get::<OtelData>()?.trace_id()
}
// ANCHOR_END: case

fn main() {
    let _ = trace_id::<tracing_subscriber::Registry>;
}
