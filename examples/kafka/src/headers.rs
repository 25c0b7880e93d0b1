//! The trace context in Kafka record headers: W3C `traceparent` (and
//! `tracestate`) as UTF-8 header values, the way every OpenTelemetry SDK
//! writes them, so a consumer in Java or Go joins the same trace. The trace
//! context alone, not the service's global propagators: baggage would be
//! kept in the topic with every record, for as long as the topic keeps it.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use rdkafka::message::{Header, Headers, OwnedHeaders};

// ANCHOR: carriers
/// Writes the context of `cx` into `headers`.
pub fn inject(cx: &Context, headers: OwnedHeaders) -> OwnedHeaders {
    let mut injector = HeaderInjector(Some(headers));
    TraceContextPropagator::new().inject_context(cx, &mut injector);
    injector.0.unwrap_or_default()
}

/// The context a record's headers carry; empty when they carry none.
pub fn extract<H: Headers>(headers: Option<&H>) -> Context {
    match headers {
        Some(headers) => {
            TraceContextPropagator::new().extract(&HeaderExtractor(headers))
        }
        None => Context::new(),
    }
}

/// `OwnedHeaders::insert` takes the headers by value, hence the `Option`.
struct HeaderInjector(Option<OwnedHeaders>);

impl Injector for HeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        let headers = self.0.take().unwrap_or_default();
        self.0 = Some(headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        }));
    }
}

struct HeaderExtractor<'a, H>(&'a H);

impl<H: Headers> Extractor for HeaderExtractor<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|header| header.key.eq_ignore_ascii_case(key))
            .and_then(|header| header.value)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|header| header.key).collect()
    }
}
// ANCHOR_END: carriers

/// The value of the header `key`, as text.
pub fn text<'a, H: Headers>(headers: Option<&'a H>, key: &str) -> Option<&'a str> {
    headers?
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}
