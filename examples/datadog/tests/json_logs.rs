//! The JSON log layer: Datadog's reserved attributes, the unified tags, and
//! ids that are the span's own. Its own test binary: it installs a global
//! subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use example_datadog::logs::DatadogJson;
use example_datadog::unified::UnifiedTags;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_line_carries_its_span_ids_in_datadog_form() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let tags = UnifiedTags {
        service: "checkout".into(),
        env: Some("ci".into()),
        version: Some("1.4.2".into()),
    };
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(DatadogJson::new(tags, move || writer.clone()))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let span = tracing::info_span!("place order");
    let (trace_id, span_id) = span.in_scope(|| {
        // A field named like a reserved attribute does not replace it.
        tracing::warn!(status = "teapot", items = 3, "order not placed");
        let cx = tracing::Span::current().context();
        let span_context = cx.span().span_context().clone();
        (span_context.trace_id(), span_context.span_id())
    });
    tracing::info!("outside any span");

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let line = &lines[0];
    assert_eq!(line["message"], "order not placed");
    assert_eq!(line["status"], "warn");
    assert_eq!(line["items"], 3);
    assert_eq!(line["service"], "checkout");
    assert_eq!(line["dd.env"], "ci");
    assert_eq!(line["dd.version"], "1.4.2");
    let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
    assert_eq!(line["dd.trace_id"], low.to_string());
    assert_eq!(
        line["dd.span_id"],
        u64::from_be_bytes(span_id.to_bytes()).to_string()
    );
    // No span, no ids.
    assert!(lines[1].get("dd.trace_id").is_none(), "{}", lines[1]);
}
