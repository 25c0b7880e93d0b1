// ANCHOR: case
// opentelemetry_sdk 0.27 and before: the span data and the in-memory
// exporter lived elsewhere.
use opentelemetry_sdk::export::trace::SpanData;
use opentelemetry_sdk::testing::trace::InMemorySpanExporter;
// ANCHOR_END: case

fn main() {
    let exporter = InMemorySpanExporter::default();
    let _: Vec<SpanData> = exporter.get_finished_spans().unwrap();
}
