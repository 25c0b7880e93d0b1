//! The scrape endpoint in process: the names the Prometheus reader gives the
//! instruments, and the bad-input path.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_prometheus::app;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use tower::ServiceExt as _;

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The app with a Prometheus reader; keep the provider: dropping it shuts
/// the reader down, and `/metrics` goes empty.
fn router() -> (axum::Router, SdkMeterProvider) {
    let registry = prometheus::Registry::new();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .unwrap();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    (app(&provider.meter("test"), registry), provider)
}

#[tokio::test]
async fn instruments_appear_under_their_prometheus_names() {
    let (router, _provider) = router();
    assert_eq!(get(&router, "/hello?lang=fr").await.1, "bonjour");
    let (status, text) = get(&router, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        r#"app_greetings_total{greeting_language="fr",otel_scope_name="test"} 1"#,
        r#"app_greeting_size_bytes_sum{greeting_language="fr",otel_scope_name="test"} 7"#,
        "# TYPE http_server_request_duration_seconds histogram",
        "# TYPE app_start_time_seconds gauge",
        "# TYPE target_info gauge",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn scrapes_are_not_measured_as_requests() {
    let (router, _provider) = router();
    get(&router, "/metrics").await;
    get(&router, "/hello").await;
    let (_, text) = get(&router, "/metrics").await;
    assert!(text.contains(r#"http_route="/hello""#), "{text}");
    assert!(!text.contains(r#"http_route="/metrics""#), "{text}");
}

#[tokio::test]
async fn an_unknown_language_is_a_400_with_a_reason_and_no_greeting() {
    let (router, _provider) = router();
    let (status, body) = get(&router, "/hello?lang=xx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("try en or fr"), "{body}");
    let (_, text) = get(&router, "/metrics").await;
    assert!(text.contains("target_info"), "{text}");
    assert!(!text.contains("app_greetings_total{"), "{text}");
}
