use opentelemetry::metrics::Meter;

// ANCHOR: case
// opentelemetry 0.26 and before: instruments were made with `init`.
fn orders(meter: &Meter) {
    let counter = meter.u64_counter("shop.orders").init();
    counter.add(1, &[]);
}
// ANCHOR_END: case

fn main() {
    orders(&opentelemetry::global::meter("shop"));
}
