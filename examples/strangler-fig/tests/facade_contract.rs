//! The two services behind the facade, in process: the same contract for
//! the orders both can read, the gap (archived orders) that shadow traffic
//! is there to find, clear errors for bad ids, and the mark on a mirrored
//! request's span.

mod recorded;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_strangler_fig::{http, monolith, orders};
use opentelemetry::Value;
use recorded::{Recorded, attribute};
use serde_json::Value as Json;
use tower::ServiceExt as _;

async fn get(app: Router, path: &str, host: &str) -> (StatusCode, Json) {
    let request = Request::get(path)
        .header("host", host)
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn both_answer_an_order_with_the_same_contract() {
    let (status, old) = get(monolith::routes(), "/orders/1001", "shop").await;
    assert_eq!(status, StatusCode::OK);
    let (status, new) = get(orders::routes(), "/orders/1001", "shop").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["order"], new["order"]);
    assert_eq!(old["order"]["total_cents"], 4200);
    assert_eq!(
        (old["served_by"].as_str(), new["served_by"].as_str()),
        (Some("monolith"), Some("orders"))
    );
}

#[tokio::test]
async fn archived_orders_are_the_monoliths_alone() {
    let (status, _) = get(monolith::routes(), "/orders/17", "shop").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(orders::routes(), "/orders/17", "shop").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("archived orders are not migrated"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_ids_and_unknown_orders_are_clear_4xx() {
    for app in [monolith::routes(), orders::routes()] {
        let (status, body) = get(app.clone(), "/orders/abc", "shop").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("\"abc\" is not an id")
        );
        let (status, body) = get(app, "/orders/5", "shop").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no order 5");
    }
}

#[tokio::test]
async fn a_mirrored_request_is_marked_and_a_real_one_is_not() {
    let recorded = Recorded::start();
    let app = http::instrument(orders::routes(), &recorded.meter());
    let (status, _) =
        get(app.clone(), "/orders/1001", "localhost-shadow:3160").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(app, "/orders/1002", "localhost:3160").await;
    assert_eq!(status, StatusCode::OK);
    let spans = recorded.spans_named("GET /orders/{id}");
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attribute(&spans[0], "migration.shadow"),
        Some(Value::Bool(true))
    );
    assert_eq!(attribute(&spans[1], "migration.shadow"), None);
}
