//! Which headers the service reads and writes trace context in, from the
//! standard `OTEL_PROPAGATORS` variable: `tracecontext` (W3C, what a mesh
//! with OpenTelemetry's tracer speaks), `b3` and `b3multi` (Zipkin's B3, in
//! one header or several, what a mesh with Zipkin's tracer speaks),
//! `baggage`, or `none`. Unset, `tracecontext,baggage`, as the
//! specification says.

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_propagator_b3::{B3Encoding, Propagator as B3Propagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

/// A propagator the service installs.
pub type Boxed = Box<dyn TextMapPropagator + Send + Sync>;

/// The names `OTEL_PROPAGATORS` may list here.
pub const KNOWN: &[&str] = &["tracecontext", "baggage", "b3", "b3multi", "none"];

/// A value of `OTEL_PROPAGATORS` this service cannot follow.
#[derive(Debug, thiserror::Error)]
#[error("OTEL_PROPAGATORS={value:?}: {name:?} is not a propagator this service has; use {}", KNOWN.join(", "))]
pub struct UnknownPropagator {
    pub value: String,
    pub name: String,
}

// ANCHOR: from_env
/// The propagators `OTEL_PROPAGATORS` names, in its order; `none` alone
/// (or with others) means no propagation at all.
pub fn from_value(value: &str) -> Result<Vec<Boxed>, UnknownPropagator> {
    let names: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let names = if names.is_empty() {
        vec!["tracecontext", "baggage"]
    } else {
        names
    };
    let mut propagators: Vec<Boxed> = Vec::new();
    for name in &names {
        propagators.push(match *name {
            "tracecontext" => Box::new(TraceContextPropagator::new()),
            "baggage" => Box::new(BaggagePropagator::new()),
            "b3" => Box::new(B3Propagator::with_encoding(B3Encoding::SingleHeader)),
            "b3multi" => {
                Box::new(B3Propagator::with_encoding(B3Encoding::MultipleHeader))
            }
            // An empty composite reads nothing and writes nothing.
            "none" => {
                let nothing = TextMapCompositePropagator::new(Vec::new());
                return Ok(vec![Box::new(nothing)]);
            }
            other => {
                return Err(UnknownPropagator {
                    value: value.to_owned(),
                    name: other.to_owned(),
                });
            }
        });
    }
    Ok(propagators)
}
// ANCHOR_END: from_env

/// [`from_value`] of the variable, unset meaning the default.
pub fn from_env() -> Result<Vec<Boxed>, UnknownPropagator> {
    from_value(&std::env::var("OTEL_PROPAGATORS").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::Context;
    use opentelemetry::trace::TraceContextExt as _;

    use super::*;

    fn composite(value: &str) -> TextMapCompositePropagator {
        TextMapCompositePropagator::new(from_value(value).unwrap())
    }

    fn extract(value: &str, headers: &[(&str, &str)]) -> Option<String> {
        let carrier: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let cx = composite(value).extract_with_context(&Context::new(), &carrier);
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| context.trace_id().to_string())
    }

    const B3: &[(&str, &str)] = &[
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-sampled", "1"),
    ];

    #[test]
    fn b3_headers_are_read_only_with_a_b3_propagator() {
        assert_eq!(extract("tracecontext", B3), None);
        let joined = Some("80f198ee56343ba864fe8b2a57d3eff7".to_owned());
        assert_eq!(extract("tracecontext,b3multi", B3), joined);
        assert_eq!(extract("b3", B3), joined, "b3 reads both forms");
    }

    /// The headers the service writes on an outbound call.
    fn inject(value: &str) -> Vec<String> {
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceFlags, TraceId, TraceState,
        };
        let context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(context);
        let mut carrier: HashMap<String, String> = HashMap::new();
        composite(value).inject_context(&cx, &mut carrier);
        let mut names: Vec<String> = carrier.into_keys().collect();
        names.sort();
        names
    }

    #[test]
    fn the_service_writes_the_headers_it_was_told_to() {
        let w3c = ["traceparent", "tracestate"];
        assert_eq!(inject("tracecontext"), w3c);
        let both =
            [&w3c[..], &["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"]].concat();
        assert_eq!(inject("tracecontext,b3multi"), both);
        // `b3` writes the single header and, in opentelemetry-propagator-b3
        // 0.33.1, the multiple ones too (its check for "unspecified" holds
        // for every encoding): more than the specification asks, harmless
        // to a mesh, which reads either.
        let b3 = ["b3", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"];
        assert_eq!(inject("b3"), b3);
        assert!(inject("none").is_empty());
    }

    #[test]
    fn none_reads_nothing_and_unknown_names_are_refused() {
        let w3c = [(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )];
        assert!(extract("", &w3c).is_some(), "the default reads W3C");
        assert_eq!(extract("none", &w3c), None);
        let error = from_value("tracecontext, jaeger").err().unwrap();
        assert!(
            error.to_string().contains("\"jaeger\" is not a propagator"),
            "{error}"
        );
    }
}
