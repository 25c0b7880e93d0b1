//! The rendered page carries the trace context of the request that rendered
//! it, so the browser's page load continues that trace. Its own test binary:
//! it installs a global subscriber and propagator.

use axum::body::Body;
use axum::http::Request;
use example_yew::{Web, app};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn the_page_continues_the_request_trace_and_records_the_render() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let web = Web {
        pkg_dir: std::env::temp_dir().join("example-yew-trace-no-pkg"),
        browser_otlp_endpoint: None,
    };
    let router = app(web, &opentelemetry::global::meter("test"));
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = Request::get("/ssr")
        .header("traceparent", caller)
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /ssr")
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    let render = spans
        .iter()
        .find(|s| s.name == "render page")
        .unwrap_or_else(|| panic!("no render span in {spans:#?}"));
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(render.parent_span_id, server.span_context.span_id());
    assert!(
        render
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "notes.count" && kv.value.as_str() == "1"),
        "{:?}",
        render.attributes
    );
    // The meta tag names the server span: the page load becomes its child.
    let expected = format!(
        r#"<meta name="traceparent" content="00-{}-{}-01">"#,
        server.span_context.trace_id(),
        server.span_context.span_id()
    );
    assert!(body.contains(&expected), "{expected} not in {body}");
}
