//! The BFF in process, in front of real catalog and reviews servers (port 0)
//! that count the calls they get: batching, limits and failures, with the
//! spans recorded in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use example_bff_graphql::{Services, app};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const CART: &str = "query Cart { cart(id: \"c1\") { lines { quantity product { name reviews { rating } } } } }";

const DEEP: &str = "query Deep { cart(id: \"c1\") { lines { product { reviews { product { reviews { product { reviews { rating } } } } } } } } }";

/// A service answering one fixed JSON body, counting its calls.
async fn service(path: &'static str, body: Value) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            path,
            get(
                |State((calls, body)): State<(Arc<AtomicUsize>, Value)>| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    axum::Json(body)
                },
            ),
        )
        .with_state((calls.clone(), body));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router).into_future());
    (url, calls)
}

struct Bff {
    router: Router,
    spans: InMemorySpanExporter,
    tracer: SdkTracerProvider,
    catalog_calls: Arc<AtomicUsize>,
    reviews_calls: Arc<AtomicUsize>,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Bff {
    async fn new() -> Self {
        let products = json!([
            { "id": 1, "name": "Rust in Action", "price": 39 },
            { "id": 2, "name": "A desk lamp", "price": 25 },
            { "id": 3, "name": "Coffee", "price": 18 },
        ]);
        let reviews = json!([{ "product_id": 1, "rating": 5, "text": "Clear" }]);
        let (catalog_url, catalog_calls) = service("/products", products).await;
        let (reviews_url, reviews_calls) = service("/reviews", reviews).await;
        Self::with(catalog_url, reviews_url, catalog_calls, reviews_calls)
    }

    fn with(
        catalog_url: String,
        reviews_url: String,
        catalog_calls: Arc<AtomicUsize>,
        reviews_calls: Arc<AtomicUsize>,
    ) -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let meter = SdkMeterProvider::default().meter("test");
        Self {
            router: app(Services::new(catalog_url, reviews_url), &meter),
            spans,
            tracer,
            catalog_calls,
            reviews_calls,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    async fn query(&self, query: &str) -> Value {
        let body = json!({ "query": query }).to_string();
        let request = Request::post("/graphql")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn spans(&self) -> Vec<SpanData> {
        self.tracer.force_flush().unwrap();
        self.spans.get_finished_spans().unwrap()
    }

    fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
        spans
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {names:?}"))
    }
}

#[tokio::test]
async fn a_cart_of_three_is_one_call_per_service_in_the_request_trace() {
    let bff = Bff::new().await;
    let response = bff.query(CART).await;
    assert!(response.get("errors").is_none(), "{response}");
    let lines = &response["data"]["cart"]["lines"];
    assert_eq!(lines.as_array().unwrap().len(), 3);
    assert_eq!(lines[0]["product"]["name"], "Rust in Action");
    assert_eq!(lines[0]["product"]["reviews"][0]["rating"], 5);
    assert_eq!(lines[1]["product"]["reviews"], json!([]));

    assert_eq!(bff.catalog_calls.load(Ordering::SeqCst), 1);
    assert_eq!(bff.reviews_calls.load(Ordering::SeqCst), 1);
    let operation = bff.span("query Cart");
    for name in ["load catalog", "load reviews"] {
        let batch = bff.span(name);
        assert_eq!(
            batch.span_context.trace_id(),
            operation.span_context.trace_id(),
            "{name} belongs to the request's trace"
        );
        assert_eq!(batch.parent_span_id, operation.span_context.span_id());
    }
}

#[tokio::test]
async fn requests_never_share_a_batch() {
    let bff = Bff::new().await;
    let (a, b) = tokio::join!(bff.query(CART), bff.query(CART));
    assert!(a.get("errors").is_none() && b.get("errors").is_none());
    // One batch per request and service: loaders are per request.
    assert_eq!(bff.catalog_calls.load(Ordering::SeqCst), 2);
    let spans = bff.spans();
    let batches: Vec<_> =
        spans.iter().filter(|s| s.name == "load catalog").collect();
    assert_eq!(batches.len(), 2);
    assert_ne!(
        batches[0].span_context.trace_id(),
        batches[1].span_context.trace_id()
    );
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused_before_any_call() {
    let bff = Bff::new().await;
    let response = bff.query(DEEP).await;
    assert_eq!(
        response["errors"][0]["message"],
        "Query is nested too deep."
    );
    assert_eq!(bff.catalog_calls.load(Ordering::SeqCst), 0);
    assert_eq!(bff.reviews_calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        bff.span("query Deep").status,
        Status::error("Query is nested too deep.")
    );
}

#[tokio::test]
async fn a_service_that_is_down_is_a_graphql_error_not_a_crash() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (reviews_url, reviews_calls) = service("/reviews", json!([])).await;
    let bff = Bff::with(
        format!("http://{closed}"),
        reviews_url,
        Arc::default(),
        reviews_calls,
    );
    let response = bff.query(CART).await;
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.starts_with("catalog unreachable"), "{response}");
    assert!(matches!(
        bff.span("load catalog").status,
        Status::Error { .. }
    ));
    assert!(matches!(
        bff.span("query Cart").status,
        Status::Error { .. }
    ));
}
