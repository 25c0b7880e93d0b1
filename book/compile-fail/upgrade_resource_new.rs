use opentelemetry::KeyValue;

// ANCHOR: case
// opentelemetry_sdk 0.27 and before.
fn resource() -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::new(vec![KeyValue::new("service.name", "checkout")])
}
// ANCHOR_END: case

fn main() {
    resource();
}
