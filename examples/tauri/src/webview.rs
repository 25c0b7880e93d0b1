//! The webview's spans, as its `telemetry.js` sends them to the
//! `export_spans` command, checked and turned into the SDK's span data for
//! export under the webview's own `service.name`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde::Deserialize;

/// The most spans one `export_spans` call may carry.
pub const MAX_SPANS: usize = 512;
/// The most attributes one span may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// The longest name, attribute value or error message kept, in bytes.
pub const MAX_TEXT: usize = 1024;
/// How far from the core's clock a span's times may be: the webview reads
/// the same clock, so anything further is not a time it recorded.
pub const MAX_CLOCK_DISTANCE: Duration = Duration::from_secs(24 * 60 * 60);

/// A span as `telemetry.js` records it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebviewSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// Milliseconds since the Unix epoch, as `Date.now()` gives them.
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Set when the action failed: the span's status is then an error.
    pub error: Option<String>,
}

/// Why a span from the webview was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum InvalidSpan {
    #[error("span {index}: {field} is not {expected}: {value:?}")]
    Field {
        index: usize,
        field: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("span {index}: it ends before it starts")]
    EndsBeforeStart { index: usize },
    #[error("span {index}: it is its own parent")]
    OwnParent { index: usize },
    #[error("span {index}: span {first} has the same spanId")]
    DuplicateId { index: usize, first: usize },
    #[error("span {index}: {count} attributes, more than {MAX_ATTRIBUTES}")]
    TooManyAttributes { index: usize, count: usize },
    #[error("{0} spans in one call, more than {MAX_SPANS}")]
    TooManySpans(usize),
}

// ANCHOR: convert
/// The spans as the SDK exports them, or the first reason one is refused
/// (then none is exported: the webview's batch is all or nothing).
pub fn span_data(spans: Vec<WebviewSpan>) -> Result<Vec<SpanData>, InvalidSpan> {
    if spans.len() > MAX_SPANS {
        return Err(InvalidSpan::TooManySpans(spans.len()));
    }
    let scope = InstrumentationScope::builder("webview").build();
    let now = SystemTime::now();
    let data = spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| convert(index, span, &scope, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashMap::new();
    for (index, span) in data.iter().enumerate() {
        if let Some(first) = seen.insert(span.span_context.span_id(), index) {
            return Err(InvalidSpan::DuplicateId { index, first });
        }
    }
    Ok(data)
}

fn convert(
    index: usize,
    span: WebviewSpan,
    scope: &InstrumentationScope,
    now: SystemTime,
) -> Result<SpanData, InvalidSpan> {
    let field = |field, expected, value: &str| InvalidSpan::Field {
        index,
        field,
        expected,
        value: value.chars().take(64).collect(),
    };
    let trace_id = hex_id::<16>(&span.trace_id)
        .map(TraceId::from_bytes)
        .ok_or_else(|| {
            field("traceId", "32 hex digits, not all zero", &span.trace_id)
        })?;
    let span_id = hex_id::<8>(&span.span_id)
        .map(SpanId::from_bytes)
        .ok_or_else(|| {
            field("spanId", "16 hex digits, not all zero", &span.span_id)
        })?;
    let parent_span_id = match &span.parent_span_id {
        None => SpanId::INVALID,
        Some(id) => hex_id::<8>(id).map(SpanId::from_bytes).ok_or_else(|| {
            field("parentSpanId", "16 hex digits, not all zero", id)
        })?,
    };
    if parent_span_id == span_id {
        return Err(InvalidSpan::OwnParent { index });
    }
    // Within a day of the core's clock, which the webview reads too.
    const NEAR: &str = "milliseconds since the epoch, within a day of now";
    let near = |time: &SystemTime| {
        let distance = match now.duration_since(*time) {
            Ok(past) => past,
            Err(future) => future.duration(),
        };
        distance <= MAX_CLOCK_DISTANCE
    };
    let start_time = epoch_ms(span.start_ms)
        .filter(near)
        .ok_or_else(|| field("startMs", NEAR, &span.start_ms.to_string()))?;
    let end_ms = span.end_ms.unwrap_or(span.start_ms);
    let end_time = epoch_ms(end_ms)
        .filter(near)
        .ok_or_else(|| field("endMs", NEAR, &end_ms.to_string()))?;
    if end_time < start_time {
        return Err(InvalidSpan::EndsBeforeStart { index });
    }
    if span.attributes.len() > MAX_ATTRIBUTES {
        return Err(InvalidSpan::TooManyAttributes {
            index,
            count: span.attributes.len(),
        });
    }
    let attributes = span
        .attributes
        .into_iter()
        .map(|(key, value)| KeyValue::new(clip(key), clip(value)))
        .collect();
    let status = match span.error {
        Some(message) => Status::error(clip(message)),
        None => Status::Unset,
    };
    Ok(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(clip(span.name)),
        start_time,
        end_time,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    })
}
// ANCHOR_END: convert

/// `N` bytes from `2 N` lower- or upper-case hex digits, unless all zero
/// (an invalid id in W3C trace context).
fn hex_id<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    bytes.iter().any(|&b| b != 0).then_some(bytes)
}

/// A time from milliseconds since the epoch: finite, not before it, not
/// beyond what the clock can hold. Whole milliseconds and the fraction
/// apart: as seconds in one `f64`, today's times lose their microseconds.
fn epoch_ms(ms: f64) -> Option<SystemTime> {
    // `as` saturates; the bound keeps the whole part exact and in range.
    if !ms.is_finite() || !(0.0..u64::MAX as f64).contains(&ms) {
        return None;
    }
    let whole = Duration::from_millis(ms.trunc() as u64);
    let fraction = Duration::from_nanos((ms.fract() * 1e6).round() as u64);
    SystemTime::UNIX_EPOCH.checked_add(whole + fraction)
}

/// At most [`MAX_TEXT`] bytes, cut at a character boundary.
fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
