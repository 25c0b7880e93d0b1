// ANCHOR: case
// opentelemetry 0.27 and before: shut down whatever provider is global.
fn stop() {
    opentelemetry::global::shutdown_tracer_provider();
}
// ANCHOR_END: case

fn main() {
    stop();
}
