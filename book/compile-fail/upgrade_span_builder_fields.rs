use opentelemetry::trace::{SpanBuilder, Status, Tracer};
use std::time::SystemTime;

// ANCHOR: case
// opentelemetry 0.31 and before: the end time and the status could be set
// on the builder, before the span started.
fn imported_job<T: Tracer>(tracer: &T, started: SystemTime, ended: SystemTime) {
    let _span = SpanBuilder::from_name("import")
        .with_start_time(started)
        .with_end_time(ended)
        .with_status(Status::error("timed out"))
        .start(tracer);
}
// ANCHOR_END: case

fn main() {
    let tracer = opentelemetry::global::tracer("shop");
    imported_job(&tracer, SystemTime::now(), SystemTime::now());
}
