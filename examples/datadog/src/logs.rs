//! JSON log lines in Datadog's format: one object per line, with the
//! reserved attributes (`status`, `message`, `service`) and the ids that
//! link a line to its trace, `dd.trace_id` and `dd.span_id`.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::unified::UnifiedTags;

/// Writes every event as a Datadog JSON log line to `writer`.
pub struct DatadogJson<W> {
    tags: UnifiedTags,
    writer: W,
}

impl<W> DatadogJson<W> {
    pub fn new(tags: UnifiedTags, writer: W) -> Self {
        Self { tags, writer }
    }
}

// ANCHOR: ids
/// Datadog's trace id is the low 64 bits of OpenTelemetry's 128, in decimal;
/// its span id is the same 64 bits, in decimal.
pub fn datadog_ids(cx: &opentelemetry::Context) -> Option<(String, String)> {
    let span = cx.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    let trace = u128::from_be_bytes(span_context.trace_id().to_bytes()) as u64;
    let span = u64::from_be_bytes(span_context.span_id().to_bytes());
    Some((trace.to_string(), span.to_string()))
}
// ANCHOR_END: ids

// ANCHOR: layer
impl<S, W> Layer<S> for DatadogJson<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        // The event's fields first: Datadog's reserved attributes below
        // replace any field of the same name (a field called `status` would
        // otherwise become the line's level).
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut line = fields.0;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        line.insert("timestamp".into(), (now.as_millis() as u64).into());
        line.insert("status".into(), status(metadata.level()).into());
        line.insert("logger.name".into(), metadata.target().into());
        // Unified service tags, as Datadog's own libraries write them.
        line.insert("service".into(), self.tags.service.clone().into());
        line.insert("dd.service".into(), self.tags.service.clone().into());
        if let Some(env) = &self.tags.env {
            line.insert("dd.env".into(), env.clone().into());
        }
        if let Some(version) = &self.tags.version {
            line.insert("dd.version".into(), version.clone().into());
        }
        if let Some((trace_id, span_id)) =
            datadog_ids(&tracing::Span::current().context())
        {
            line.insert("dd.trace_id".into(), trace_id.into());
            line.insert("dd.span_id".into(), span_id.into());
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A log line that cannot be written is dropped, never a panic.
        let _ = self.writer.make_writer().write_all(text.as_bytes());
    }
}
// ANCHOR_END: layer

/// Datadog's `status` names.
fn status(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's fields as JSON values; `message` is the event's text.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
