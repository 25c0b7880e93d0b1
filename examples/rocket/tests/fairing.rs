//! The fairing in process, through Rocket's local client (the full request
//! pipeline, without a socket), with spans and metrics recorded in memory.

use opentelemetry::global;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rocket::http::{Header, Status as HttpStatus};
use rocket::local::asynchronous::Client;
use tracing_subscriber::layer::SubscriberExt as _;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Recorded {
    client: Client,
    spans: InMemorySpanExporter,
    tracer: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter: SdkMeterProvider,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Recorded {
    async fn start() -> Self {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let guard = tracing::subscriber::set_default(subscriber);
        let figment = rocket::Config::figment().merge(("log_level", "off"));
        let rocket = example_rocket::rocket(figment, &meter.meter("test"));
        Self {
            client: Client::tracked(rocket).await.unwrap(),
            spans,
            tracer,
            metrics,
            meter,
            _subscriber: guard,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.tracer.force_flush().unwrap();
        self.spans.get_finished_spans().unwrap()
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[rocket::async_test]
async fn a_server_span_named_by_the_route_continues_the_callers_trace() {
    let recorded = Recorded::start().await;
    let response = recorded
        .client
        .get("/hello/ada")
        .header(Header::new("traceparent", TRACEPARENT))
        .dispatch()
        .await;
    assert_eq!(response.status(), HttpStatus::Ok);
    drop(response);

    let spans = recorded.spans();
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("a server span");
    assert_eq!(server.name, "GET /hello/<name>");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(
        attribute(server, "http.route"),
        Some("/hello/<name>".into())
    );
    assert_eq!(attribute(server, "url.path"), Some("/hello/ada".into()));
    assert_eq!(
        attribute(server, "http.response.status_code"),
        Some(200_i64.into())
    );
    assert_eq!(
        server.events.len(),
        1,
        "the handler's log ran inside the span"
    );
}

#[rocket::async_test]
async fn a_5xx_is_an_error_a_404_is_not() {
    let recorded = Recorded::start().await;
    let failed = recorded.client.get("/fail").dispatch().await;
    assert_eq!(failed.status(), HttpStatus::InternalServerError);
    drop(failed);
    let missing = recorded.client.get("/no/such/route").dispatch().await;
    assert_eq!(missing.status(), HttpStatus::NotFound);
    drop(missing);

    let spans = recorded.spans();
    let fail = spans.iter().find(|s| s.name == "GET /fail").unwrap();
    assert!(matches!(fail.status, Status::Error { .. }));
    assert_eq!(attribute(fail, "error.type"), Some("500".into()));
    let not_found = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(not_found.status, Status::Unset);
    assert_eq!(attribute(not_found, "http.route"), None, "no route matched");
}

#[rocket::async_test]
async fn the_duration_histogram_has_the_route_and_status() {
    let recorded = Recorded::start().await;
    for _ in 0..3 {
        drop(recorded.client.get("/hello/ada").dispatch().await);
    }
    recorded.meter.force_flush().unwrap();
    let exported = recorded.metrics.get_finished_metrics().unwrap();
    let metric = exported
        .iter()
        .flat_map(|r| r.scope_metrics())
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == "http.server.request.duration")
        .expect("the histogram");
    assert_eq!(metric.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data()
    else {
        panic!("a f64 histogram");
    };
    let point = histogram.data_points().next().unwrap();
    assert_eq!(point.count(), 3);
    let route = point
        .attributes()
        .find(|kv| kv.key.as_str() == "http.route")
        .map(|kv| kv.value.as_str().into_owned());
    assert_eq!(route.as_deref(), Some("/hello/<name>"));
}
