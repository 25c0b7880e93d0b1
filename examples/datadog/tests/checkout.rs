//! checkout in process, against the real pricing service on a local port and
//! a real UDP socket as DogStatsD.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cadence::{StatsdClient, UdpMetricSink};
use example_datadog::unified::UnifiedTags;
use example_datadog::{Receipt, app};
use tower::ServiceExt as _;

/// Serves the pricing service on a free port; returns its URL.
async fn pricing() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, example_datadog_pricing::app())
            .await
            .unwrap();
    });
    format!("http://{addr}")
}

/// A DogStatsD client with the unified tags, sending to a socket the test
/// reads.
fn statsd() -> (StatsdClient, std::net::UdpSocket) {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpMetricSink::from(receiver.local_addr().unwrap(), sender).unwrap();
    let tags = UnifiedTags {
        service: "checkout".into(),
        env: Some("test".into()),
        version: Some("9.9.9".into()),
    };
    let mut builder = StatsdClient::builder("", sink);
    for (key, value) in tags.statsd_tags() {
        builder = builder.with_tag(key, value);
    }
    (builder.build(), receiver)
}

fn received(socket: &std::net::UdpSocket) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buffer = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buffer) {
        lines.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    lines
}

fn order(body: &str) -> Request<Body> {
    Request::post("/checkout")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("test")
}

#[tokio::test]
async fn an_order_is_priced_and_counted_with_its_tags() {
    let (statsd, socket) = statsd();
    let router = app(&meter(), pricing().await, statsd);
    let (status, body) =
        send(router, order(r#"{"sku": "coffee", "quantity": 3}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let receipt: Receipt = serde_json::from_str(&body).unwrap();
    assert_eq!(receipt.total_cents, 3 * 380);
    let lines = received(&socket);
    assert!(
        lines.contains(
            &"checkout.orders:1|c|#service:checkout,env:test,version:9.9.9,sku:coffee,outcome:placed"
                .to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("checkout.order.value:1140|d|")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn bad_orders_get_a_4xx_with_a_reason_and_count_as_rejected() {
    let (statsd, socket) = statsd();
    let router = app(&meter(), pricing().await, statsd);
    let (status, body) =
        send(router.clone(), order(r#"{"sku": "tea", "quantity": 0}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("quantity is 1 to 100, not 0"), "{body}");
    let (status, body) =
        send(router.clone(), order(r#"{"sku": "caviar", "quantity": 1}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("no price for caviar"), "{body}");
    let (status, _) = send(router, order(r#"{"sku": 7}"#)).await;
    assert!(status.is_client_error(), "{status}");
    let lines = received(&socket);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("sku:caviar,outcome:rejected")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn an_unreachable_pricing_is_a_502() {
    let (statsd, socket) = statsd();
    // A port nothing listens on: bound, then closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let router = app(&meter(), closed, statsd);
    let (status, body) =
        send(router, order(r#"{"sku": "tea", "quantity": 1}"#)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.starts_with("pricing: "), "{body}");
    let lines = received(&socket);
    assert!(
        lines.iter().any(|l| l.ends_with("outcome:failed")),
        "{lines:?}"
    );
}

#[test]
fn the_unified_tags_become_resource_attributes_and_statsd_tags() {
    let tags = UnifiedTags {
        service: "checkout".into(),
        env: Some("prod".into()),
        version: None,
    };
    let resource: Vec<(String, String)> = tags
        .resource()
        .into_iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    assert_eq!(
        resource,
        vec![
            ("service.name".into(), "checkout".into()),
            ("deployment.environment.name".into(), "prod".into()),
        ]
    );
    assert_eq!(
        tags.statsd_tags(),
        vec![("service", "checkout".into()), ("env", "prod".into())]
    );
}
