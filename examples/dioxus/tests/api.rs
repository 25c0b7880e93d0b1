//! The server side in process: the catalogue, loans and the page.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_dioxus::{Book, FRONT_END, Loan, Web, app, catalogue};
use tower::ServiceExt as _;

fn web(pkg_dir: std::path::PathBuf, endpoint: Option<&str>) -> Web {
    Web {
        package: FRONT_END,
        pkg_dir,
        browser_otlp_endpoint: endpoint.map(str::to_owned),
    }
}

/// What `wasm-bindgen` names the front end's JS glue.
fn front_end_js() -> String {
    web(std::path::PathBuf::new(), None).js()
}

/// A directory holding a stand-in for the front end's JS glue, removed
/// when dropped (also when the test fails).
fn built_pkg() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(front_end_js()),
        "export default function init() {}",
    )
    .unwrap();
    dir
}

async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn borrow(body: &str) -> Request<Body> {
    Request::post("/api/loans")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn books(router: axum::Router) -> Vec<Book> {
    let (status, body) = send(
        router,
        Request::get("/api/books").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_str(&body).unwrap()
}

fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("test")
}

#[tokio::test]
async fn a_book_on_the_shelf_is_lent_once() {
    let router = app(web(built_pkg().path().to_owned(), None), &meter());
    assert_eq!(books(router.clone()).await, catalogue());

    let (status, body) = send(router.clone(), borrow(r#"{"book_id": 2}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let loan: Loan = serde_json::from_str(&body).unwrap();
    assert_eq!(loan.book_id, 2);
    assert_eq!(loan.title, "A Wizard of Earthsea");
    let after = books(router.clone()).await;
    assert!(after[1].on_loan, "{after:?}");

    // The same book again: a conflict that names it.
    let (status, body) = send(router, borrow(r#"{"book_id": 2}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body, "A Wizard of Earthsea is on loan");
}

#[tokio::test]
async fn refused_loans_say_why_and_change_nothing() {
    let router = app(web(built_pkg().path().to_owned(), None), &meter());
    let cases = [
        (
            r#"{"book_id": 3}"#,
            StatusCode::CONFLICT,
            "The Dispossessed is on loan",
        ),
        (
            r#"{"book_id": 99}"#,
            StatusCode::NOT_FOUND,
            "the catalogue has no book 99",
        ),
        (
            r#"{"book_id": "two"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "book_id: invalid type",
        ),
        (
            r#"{"book_id": -1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "book_id: invalid value",
        ),
        ("{", StatusCode::BAD_REQUEST, "EOF while parsing"),
        ("", StatusCode::BAD_REQUEST, "EOF while parsing"),
    ];
    for (body, expected, reason) in cases {
        let (status, answer) = send(router.clone(), borrow(body)).await;
        assert_eq!(status, expected, "{body:?}: {answer}");
        assert!(
            answer.contains(reason),
            "{body:?}: {answer:?} lacks {reason:?}"
        );
    }
    // Not JSON at all, by its content type.
    let text = Request::post("/api/loans")
        .header("content-type", "text/plain")
        .body(Body::from("2"))
        .unwrap();
    let (status, answer) = send(router.clone(), text).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert!(answer.contains("Content-Type"), "{answer}");
    assert_eq!(books(router).await, catalogue());
}

#[tokio::test]
async fn the_page_has_the_mount_point_and_the_endpoint_escaped() {
    let endpoint = r#"http://collector:4318/"><script>"#;
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), Some(endpoint)), &meter());
    let (status, body) =
        send(router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains(r#"content="http://collector:4318/&quot;>&lt;script>""#),
        "{body}"
    );
    assert!(body.contains(r#"<div id="main"></div>"#), "{body}");
    assert!(body.contains(&format!("/pkg/{}", front_end_js())), "{body}");
}

#[tokio::test]
async fn without_an_endpoint_the_page_exports_nothing() {
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), None), &meter());
    let (_, body) =
        send(router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(!body.contains("otel-exporter-otlp-endpoint"), "{body}");
}

#[tokio::test]
async fn an_unbuilt_front_end_is_a_503_that_says_how_to_build_it() {
    let missing = std::env::temp_dir().join("example-dioxus-no-such-dir");
    let router = app(web(missing, None), &meter());
    let (status, body) =
        send(router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("cargo xtask web"), "{body}");
}

#[tokio::test]
async fn the_front_end_files_are_served_under_pkg() {
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), None), &meter());
    let uri = format!("/pkg/{}", front_end_js());
    let (status, body) =
        send(router, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("export default"), "{body}");
}
