//! The server side in process: the notes API and the page it serves.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_yew::{FRONT_END, MAX_NOTE_CHARS, Note, Web, app};
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

fn post(text: &str) -> Request<Body> {
    Request::post("/api/notes")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({ "text": text }).to_string()))
        .unwrap()
}

fn meter() -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter("test")
}

#[tokio::test]
async fn a_note_is_added_and_listed() {
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), None), &meter());
    let (status, body) = send(router.clone(), post("  hello  ")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let note: Note = serde_json::from_str(&body).unwrap();
    assert_eq!(note.text, "hello");
    assert_eq!(note.id, 2);

    let (status, body) = send(
        router,
        Request::get("/api/notes").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let notes: Vec<Note> = serde_json::from_str(&body).unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1], note);
}

#[tokio::test]
async fn empty_and_too_long_notes_get_400_with_a_reason() {
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), None), &meter());
    let (status, body) = send(router.clone(), post("   ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not 0"), "{body}");

    let long = "x".repeat(MAX_NOTE_CHARS + 1);
    let (status, body) = send(router.clone(), post(&long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(&format!("not {}", MAX_NOTE_CHARS + 1)),
        "{body}"
    );

    // Not JSON at all: axum's own 4xx, nothing stored.
    let garbage = Request::post("/api/notes")
        .header("content-type", "application/json")
        .body(Body::from("{"))
        .unwrap();
    let (status, _) = send(router.clone(), garbage).await;
    assert!(status.is_client_error(), "{status}");
    let (_, body) = send(
        router,
        Request::get("/api/notes").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(serde_json::from_str::<Vec<Note>>(&body).unwrap().len(), 1);
}

#[tokio::test]
async fn the_page_names_the_browser_endpoint_escaped() {
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
    let missing = std::env::temp_dir().join("example-yew-no-such-dir");
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

#[tokio::test]
async fn the_rendered_page_has_the_notes_in_its_html_and_its_state() {
    let pkg = built_pkg();
    let router = app(web(pkg.path().to_owned(), None), &meter());
    let (status, _) = send(router.clone(), post("a </script> <b>bold</b>")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) =
        send(router, Request::get("/ssr").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // The notes are in the document, escaped, with the status line the
    // browser would show: readable without JavaScript.
    assert!(
        body.contains("Spans from the browser join the server&#x27;s trace.")
            || body.contains("Spans from the browser join the server's trace."),
        "{body}"
    );
    assert!(
        body.contains("a &lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;"),
        "{body}"
    );
    assert!(body.contains("2 notes"), "{body}");
    // The state for hydration: JSON that cannot close its script element.
    let start = body.find(r#"id="initial-notes">"#).expect("state script") + 19;
    let json = &body[start..start + body[start..].find("</script>").unwrap()];
    let notes: Vec<Note> = serde_json::from_str(json).unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1].text, "a </script> <b>bold</b>");
    assert!(body.contains(&format!("/pkg/{}", front_end_js())), "{body}");
}

#[tokio::test]
async fn the_rendered_page_serves_without_a_built_front_end() {
    let missing = std::env::temp_dir().join("example-yew-no-such-dir");
    let router = app(web(missing, None), &meter());
    let (status, body) =
        send(router, Request::get("/ssr").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("1 note"), "{body}");
    assert!(!body.contains("/pkg/"), "no front end to load: {body}");
}
