//! The reconcile's trace, recorded in memory: API calls are its children and
//! carry its context to the API server, and the status names its trace.
//! (Its own test binary: it installs a subscriber, the others do not.)

use std::sync::Arc;

use example_kube_operator::api_spans::ApiSpans;
use example_kube_operator::{FINALIZER, Website, WebsiteSpec, reconcile};
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{Value, json};
use tower::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn api_calls_are_children_of_the_reconcile_and_the_status_names_its_trace() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let (service, mut handle) =
        tower_test::mock::pair::<Request<Body>, Response<Body>>();
    // The layer the operator's client has (see `main.rs`).
    let service = ApiSpans.layer(service);
    let ctx = example_kube_operator::Context::new(
        Client::new(service, "default"),
        &opentelemetry::global::meter("test"),
    );
    let mut website = Website::new(
        "docs",
        WebsiteSpec {
            image: "nginx:1.27".into(),
            replicas: 1,
            port: 80,
        },
    );
    website.metadata.namespace = Some("web".into());
    website.metadata.uid = Some("00000000-0000-4000-8000-000000000001".into());
    website.metadata.generation = Some(1);
    website.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let answer = serde_json::to_value(&website).unwrap();
    let reconciling = tokio::spawn(reconcile(Arc::new(website), ctx));

    // Answer the four calls; keep their traceparent headers and the status.
    let mut traceparents = Vec::new();
    let mut status = Value::Null;
    for _ in 0..4 {
        let (request, respond) = handle.next_request().await.expect("a call");
        traceparents.push(
            request.headers()["traceparent"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let is_status = request.uri().path().ends_with("/status");
        let body = request.into_body().collect_bytes().await.unwrap();
        if is_status {
            status = serde_json::from_slice(&body).unwrap();
        }
        let reply = if is_status { answer.clone() } else { json!({}) };
        respond.send_response(Response::new(Body::from(
            reply.to_string().into_bytes(),
        )));
    }
    reconciling.await.unwrap().expect("reconcile succeeds");
    provider.force_flush().unwrap();

    let spans = spans.get_finished_spans().unwrap();
    let root = spans
        .iter()
        .find(|s| s.name == "reconcile")
        .expect("a reconcile span");
    let trace_id = root.span_context.trace_id();
    assert_eq!(status["status"]["traceId"], trace_id.to_string());

    let calls: Vec<_> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    let names: Vec<&str> = calls.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "PATCH /apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            "PATCH /api/v1/namespaces/{namespace}/services/{name}",
            "PATCH /apis/book.example.com/v1/namespaces/{namespace}/websites/{name}/status",
            "POST /apis/events.k8s.io/v1/namespaces/{namespace}/events",
        ]
    );
    for (call, traceparent) in calls.iter().zip(&traceparents) {
        assert_eq!(
            call.parent_span_id,
            root.span_context.span_id(),
            "{}",
            call.name
        );
        // The header carries the client span itself: the server's span
        // becomes its child.
        let expected = format!("00-{}-{}-01", trace_id, call.span_context.span_id());
        assert_eq!(traceparent, &expected, "{}", call.name);
    }
}
