//! The pricing API in process (no exporter installed: spans go nowhere).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

async fn get(path: &str) -> (StatusCode, String) {
    let response = example_datadog_pricing::app()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_known_sku_has_a_price() {
    let (status, body) = get("/price/tea").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let quote: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(quote["cents"], 450);
}

#[tokio::test]
async fn an_unknown_sku_is_404_and_a_bad_one_400() {
    let (status, body) = get("/price/caviar").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no price for caviar"), "{body}");
    let (status, body) = get("/price/Tea%20Bags").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("lowercase"), "{body}");
}
