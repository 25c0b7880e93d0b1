//! The server side in process: the server functions over HTTP, the page
//! rendered on the server, and the bad-input paths.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_leptos::Note;
use example_leptos::server_app::{FRONT_END, Web, router};
use tower::ServiceExt as _;

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

fn web(pkg_dir: std::path::PathBuf, endpoint: Option<&str>) -> Web {
    Web {
        package: FRONT_END,
        pkg_dir,
        browser_otlp_endpoint: endpoint.map(str::to_owned),
    }
}

fn app(pkg_dir: std::path::PathBuf, endpoint: Option<&str>) -> axum::Router {
    router(
        web(pkg_dir, endpoint),
        &opentelemetry::global::meter("test"),
    )
}

async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A server function call as the browser client makes it: a form post.
fn call(function: &str, form: &str) -> Request<Body> {
    Request::post(format!("/api/{function}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn add_note_then_list_notes() {
    let pkg = built_pkg();
    let router = app(pkg.path().to_owned(), None);
    let (status, body) =
        send(router.clone(), call("add_note", "text=+hello+")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let note: Note = serde_json::from_str(&body).unwrap();
    assert_eq!(
        note,
        Note {
            id: 2,
            text: "hello".into()
        }
    );

    let (status, body) = send(router, call("list_notes", "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notes: Vec<Note> = serde_json::from_str(&body).unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1], note);
}

#[tokio::test]
async fn bad_notes_get_400_with_the_reason_and_are_not_stored() {
    let pkg = built_pkg();
    let router = app(pkg.path().to_owned(), None);
    let (status, body) = send(router.clone(), call("add_note", "text=+++")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not 0"), "{body}");

    let long = "x".repeat(example_leptos::MAX_NOTE_CHARS + 1);
    let (status, body) =
        send(router.clone(), call("add_note", &format!("text={long}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not 281"), "{body}");

    // No `text` at all: the arguments do not decode.
    let (status, _) = send(router.clone(), call("add_note", "other=1")).await;
    assert!(!status.is_success(), "{status}");

    let (_, body) = send(router, call("list_notes", "")).await;
    assert_eq!(serde_json::from_str::<Vec<Note>>(&body).unwrap().len(), 1);
}

#[tokio::test]
async fn the_page_is_rendered_on_the_server_with_the_notes_and_the_endpoint() {
    let endpoint = r#"http://collector:4318"><script>"#;
    let pkg = built_pkg();
    let router = app(pkg.path().to_owned(), Some(endpoint));
    let (status, body) =
        send(router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The notes are in the HTML before any wasm runs.
    assert!(body.contains("Rendered on the server"), "{body}");
    assert!(body.contains("otel-exporter-otlp-endpoint"), "{body}");
    assert!(
        !body.contains("\"><script>"),
        "the endpoint is escaped: {body}"
    );
    assert!(body.contains(&format!("/pkg/{}", front_end_js())), "{body}");
}

#[tokio::test]
async fn an_unbuilt_front_end_is_a_503_that_says_how_to_build_it() {
    let missing = std::env::temp_dir().join("example-leptos-no-such-dir");
    let router = app(missing, None);
    let (status, body) =
        send(router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("cargo xtask web"), "{body}");
}
