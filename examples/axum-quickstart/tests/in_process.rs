//! The service's spans and metrics, asserted in-process with the SDK's
//! in-memory exporters. `/chain` runs against a real server on port 0.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_axum_quickstart::{AppState, app};
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt as _;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt as _;

/// Spans and metrics of one test, recorded in memory.
struct Recorded {
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
    _subscriber: DefaultGuard,
}

impl Recorded {
    /// Installs a subscriber for this thread only, so tests run in parallel.
    fn start() -> Self {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer_provider.tracer("test")),
        );
        Self {
            spans,
            tracer_provider,
            metrics,
            meter_provider,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    fn app(&self, base_url: &str) -> axum::Router {
        app(AppState::new(base_url), &self.meter_provider.meter("test"))
    }

    fn finished_spans(&self) -> Vec<SpanData> {
        self.tracer_provider.force_flush().unwrap();
        self.spans.get_finished_spans().unwrap()
    }

    fn span(&self, name: &str) -> SpanData {
        let spans = self.finished_spans();
        let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
        spans
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name:?}; got {names:?}"))
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

async fn get(
    app: axum::Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = Request::get(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_request_with_traceparent_continues_the_callers_trace() {
    let recorded = Recorded::start();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    let (status, body) = get(
        recorded.app("http://unused"),
        "/hello",
        &[("traceparent", traceparent)],
    )
    .await;

    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"message":"hello"}"#)
    );
    let span = recorded.span("GET /hello");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(span.parent_span_is_remote);
    assert_eq!(attribute(&span, "http.route"), Some("/hello".into()));
    assert_eq!(attribute(&span, "http.request.method"), Some("GET".into()));
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(200_i64.into())
    );
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn a_server_error_marks_the_span_as_an_error() {
    let recorded = Recorded::start();

    let (status, body) = get(recorded.app("http://unused"), "/fail", &[]).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, r#"{"error":"inventory unavailable"}"#);
    let span = recorded.span("GET /fail");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "status {:?}",
        span.status
    );
    assert_eq!(attribute(&span, "error.type"), Some("500".into()));
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(500_i64.into())
    );
    assert!(span.events.iter().any(|e| e.name == "request failed"));
}

#[tokio::test]
async fn an_unknown_route_is_a_404_span_named_by_method_alone() {
    let recorded = Recorded::start();

    let (status, _) =
        get(recorded.app("http://unused"), "/no/such/route", &[]).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    // No route matched: the name must not leak raw paths (unbounded cardinality).
    let span = recorded.span("GET");
    assert_eq!(attribute(&span, "http.route"), None);
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(404_i64.into())
    );
    assert_eq!(
        span.status,
        Status::Unset,
        "4xx is the client's error, not the server's"
    );
}

#[tokio::test]
async fn chain_joins_client_and_callee_spans_in_one_trace() {
    let recorded = Recorded::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server =
        tokio::spawn(axum::serve(listener, recorded.app(&base_url)).into_future());

    let response = reqwest::get(format!("{base_url}/chain")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"downstream":{"message":"hello"}}"#
    );
    server.abort();

    let outer = recorded.span("GET /chain");
    let client = recorded.span("GET");
    let inner = recorded.span("GET /hello");
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(client.parent_span_id, outer.span_context.span_id());
    assert_eq!(inner.parent_span_id, client.span_context.span_id());
    assert!(
        inner.parent_span_is_remote,
        "the callee learned its parent from traceparent"
    );
    let trace_id = outer.span_context.trace_id();
    assert_eq!(client.span_context.trace_id(), trace_id);
    assert_eq!(inner.span_context.trace_id(), trace_id);
    assert_eq!(
        attribute(&client, "http.response.status_code"),
        Some(200_i64.into())
    );
    assert_eq!(
        attribute(&client, "url.full"),
        Some(format!("{base_url}/hello").into())
    );
}

#[tokio::test]
async fn chain_reports_an_unreachable_downstream_as_502_and_an_error_span() {
    let recorded = Recorded::start();
    // Bound and dropped: nothing listens there any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let (status, body) =
        get(recorded.app(&format!("http://{closed}")), "/chain", &[]).await;

    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("downstream unreachable"), "{body}");
    let client = recorded.span("GET");
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(attribute(&client, "error.type"), Some("connect".into()));
    // The caller's context was active while the client span ran.
    let outer = recorded.span("GET /chain");
    assert_eq!(client.parent_span_id, outer.span_context.span_id());
}

#[tokio::test]
async fn every_request_records_the_duration_histogram() {
    let recorded = Recorded::start();
    let app = recorded.app("http://unused");

    get(app.clone(), "/hello", &[]).await;
    get(app.clone(), "/hello", &[]).await;
    get(app, "/fail", &[]).await;
    recorded.meter_provider.force_flush().unwrap();

    let exported = recorded.metrics.get_finished_metrics().unwrap();
    let histogram = exported
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == "http.server.request.duration")
        .expect("http.server.request.duration was recorded");
    assert_eq!(histogram.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(data)) = histogram.data()
    else {
        panic!("expected an f64 histogram, got {:?}", histogram.data());
    };
    let count_for = |route: &str, status: i64| {
        data.data_points()
            .filter(|p| {
                let attrs: Vec<&KeyValue> = p.attributes().collect();
                attrs.iter().any(|kv| {
                    kv.key.as_str() == "http.route" && kv.value.as_str() == route
                }) && attrs.iter().any(|kv| {
                    kv.key.as_str() == "http.response.status_code"
                        && kv.value == status.into()
                })
            })
            .map(|p| p.count())
            .sum::<u64>()
    };
    assert_eq!(count_for("/hello", 200), 2);
    assert_eq!(count_for("/fail", 500), 1);
}
