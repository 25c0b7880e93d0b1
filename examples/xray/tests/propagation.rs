//! The X-Ray formats: the header the propagator writes and reads, and the
//! time in the trace ids the generator makes.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};
use opentelemetry_sdk::trace::IdGenerator as _;

#[test]
fn the_context_travels_in_x_amzn_trace_id_and_nothing_else() {
    let span = SpanContext::new(
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = Context::new().with_remote_span_context(span.clone());
    let mut headers = HashMap::new();
    XrayPropagator::default().inject_context(&cx, &mut headers);
    assert_eq!(
        headers,
        HashMap::from([(
            "x-amzn-trace-id".to_owned(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
                .to_owned()
        )])
    );
    let extracted = XrayPropagator::default().extract(&headers);
    assert_eq!(extracted.span().span_context(), &span);
}

#[test]
fn trace_ids_begin_with_the_time() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = format!("{}", XrayIdGenerator::default().new_trace_id());
    let seconds = u64::from_str_radix(&id[..8], 16).unwrap();
    assert!(seconds.abs_diff(now) <= 5, "{id}: {seconds} vs {now}");
}
