use opentelemetry::trace::{Link, SpanKind, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracerProvider, ShouldSample};

// ANCHOR: case
// opentelemetry 0.31 and before: a custom sampler's result types came from
// the API crate (`ShouldSample` was already the SDK's).
use opentelemetry::trace::{SamplingDecision, SamplingResult};
// ANCHOR_END: case

#[derive(Clone, Debug)]
struct DropHealthChecks;

impl ShouldSample for DropHealthChecks {
    fn should_sample(
        &self,
        _parent_context: Option<&Context>,
        _trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if name == "GET /health" {
            SamplingDecision::Drop
        } else {
            SamplingDecision::RecordAndSample
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: TraceState::default(),
        }
    }
}

fn main() {
    let _ = SdkTracerProvider::builder()
        .with_sampler(DropHealthChecks)
        .build();
}
