//! The server side of the Yew example: a notes API, the page that loads the
//! front end (empty, or rendered here with the notes in it), and the front
//! end's built files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use example_yew_web::{App, INITIAL_NOTES_ID, Props};
use opentelemetry::global;
use opentelemetry::metrics::Meter;
use serde::Deserialize;
use tower_http::services::ServeDir;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A note: the front end's type, shared by the API, the page and the browser.
pub use example_yew_web::Note;

pub mod http;

/// The JavaScript glue `wasm-bindgen --target web` writes for the front end.
pub const FRONT_END_JS: &str = "example_yew_web.js";
/// The longest note the API accepts, in characters.
pub const MAX_NOTE_CHARS: usize = 280;

/// A note as the front end posts it.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    pub text: String,
}

/// Where the page and its front end come from.
#[derive(Debug, Clone)]
pub struct Web {
    /// The `wasm-bindgen` output directory, served under `/pkg`.
    pub pkg_dir: PathBuf,
    /// The OTLP/HTTP base URL the browser exports to; `None` exports nothing
    /// from the browser (the server's own telemetry is unaffected).
    pub browser_otlp_endpoint: Option<String>,
}

impl Web {
    /// Whether the front end has been built into `pkg_dir`.
    pub fn is_built(&self) -> bool {
        self.pkg_dir.join(FRONT_END_JS).is_file()
    }
}

#[derive(Clone)]
struct AppState {
    notes: Arc<Mutex<Vec<Note>>>,
    web: Arc<Web>,
}

// ANCHOR: app
/// The whole service: `/` (the page), `/ssr` (the page rendered with its
/// notes), `/pkg/*` (the front end), `/api/notes`.
pub fn app(web: Web, meter: &Meter) -> Router {
    let pkg = ServeDir::new(&web.pkg_dir);
    let state = AppState {
        notes: Arc::new(Mutex::new(vec![Note {
            id: 1,
            text: "Spans from the browser join the server's trace.".into(),
        }])),
        web: Arc::new(web),
    };
    let router = Router::new()
        .route("/", get(index))
        .route("/ssr", get(rendered_page))
        .route("/api/notes", get(list_notes).post(add_note))
        .nest_service("/pkg", pkg)
        .with_state(state);
    http::instrument(router, meter)
}
// ANCHOR_END: app

// ANCHOR: index
/// The page: it names the OTLP endpoint for the browser in a `<meta>` tag and
/// loads the front end as an ES module.
async fn index(State(state): State<AppState>) -> Response {
    if !state.web.is_built() {
        let message = format!(
            "The front end is not built: no {} in {}. Build it with \
             `cargo xtask web` (or the two commands in the example's README).",
            FRONT_END_JS,
            state.web.pkg_dir.display()
        );
        let pkg_dir = state.web.pkg_dir.display();
        tracing::error!(%pkg_dir, "front end not built");
        return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    }
    Html(page(&head(&state.web), "", true)).into_response()
}
// ANCHOR_END: index

// ANCHOR: rendered_page
/// The page rendered here: the notes are in the HTML, so it reads without
/// JavaScript, and the front end, once loaded, hydrates it with the same
/// notes (as JSON in the page). The page carries this request's trace
/// context, so the browser's page load joins the trace that rendered it.
async fn rendered_page(State(state): State<AppState>) -> Response {
    let notes = state
        .notes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    // `<` escaped: a note cannot close the script element it travels in.
    let initial = match serde_json::to_string(&notes) {
        Ok(json) => json.replace('<', "\\u003c"),
        Err(e) => {
            tracing::error!(error = %e, "notes not serialisable");
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                .into_response();
        }
    };
    let Ok(body) = render(notes).await else {
        let message = "the page could not be rendered; /api/notes still answers";
        return (StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
    };
    let mut head = head(&state.web);
    head.push_str(&trace_context_meta());
    head.push_str(&format!(
        r#"<script type="application/json" id="{INITIAL_NOTES_ID}">"#
    ));
    head.push_str(&initial);
    head.push_str("</script>");
    let built = state.web.is_built();
    if !built {
        // Still a page, without hydration: the HTML has the notes.
        tracing::warn!("front end not built: serving the page without it");
    }
    Html(page(&head, &body, built)).into_response()
}

/// `App` rendered to HTML, with the markers hydration needs. Yew renders on
/// its own runtime; this span measures the wait for it. A component that
/// panics makes Yew's renderer panic too: on a task of its own, that is an
/// error (a 500), not a dropped connection.
#[tracing::instrument(
    name = "render page",
    skip_all,
    fields(notes.count = notes.len() as i64)
)]
async fn render(notes: Vec<Note>) -> Result<String, tokio::task::JoinError> {
    let props = move || Props {
        initial: Some(notes),
    };
    let rendered =
        tokio::spawn(yew::ServerRenderer::<App>::with_props(props).render());
    rendered
        .await
        .inspect_err(|e| tracing::error!(error = %e, "render failed"))
}

/// `<meta>` tags with the current span's context, written by the global
/// propagator (W3C: `traceparent`, and `tracestate` when set).
fn trace_context_meta() -> String {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    let mut tags: Vec<String> = carrier
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<meta name="{name}" content="{}">"#,
                escape_attribute(value)
            )
        })
        .collect();
    tags.sort();
    tags.concat()
}
// ANCHOR_END: rendered_page

/// The head both pages share: where the browser exports to, if anywhere.
fn head(web: &Web) -> String {
    match &web.browser_otlp_endpoint {
        Some(url) => format!(
            r#"<meta name="otel-exporter-otlp-endpoint" content="{}">"#,
            escape_attribute(url)
        ),
        None => String::new(),
    }
}

/// The whole document, loading the front end as an ES module if
/// `front_end`. Yew renders into (or hydrates) `<body>`, so the body holds
/// nothing but the app.
fn page(head: &str, body: &str, front_end: bool) -> String {
    let script = if front_end {
        format!(
            r#"<script type="module">
import init from "/pkg/{FRONT_END_JS}";
init();
</script>"#
        )
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Notes</title>
<link rel="icon" href="data:,">
{head}
{script}
</head>
<body>{body}</body>
</html>
"#
    )
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

async fn list_notes(State(state): State<AppState>) -> Json<Vec<Note>> {
    let notes = state.notes.lock().unwrap_or_else(PoisonError::into_inner);
    Json(notes.clone())
}

// ANCHOR: add_note
/// Adds a note: 400 with a message for an empty or too long one.
#[tracing::instrument(name = "add note", skip_all, fields(note.chars))]
async fn add_note(
    State(state): State<AppState>,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), (StatusCode, String)> {
    let text = new.text.trim();
    let chars = text.chars().count();
    // As i64: tracing-opentelemetry records a u64 (usize) as a string.
    tracing::Span::current().record("note.chars", chars as i64);
    if chars == 0 || chars > MAX_NOTE_CHARS {
        tracing::warn!(chars, "note rejected");
        return Err((
            StatusCode::BAD_REQUEST,
            format!("a note has 1 to {MAX_NOTE_CHARS} characters, not {chars}"),
        ));
    }
    let note = store(&state.notes, text);
    tracing::info!(note.id = note.id, "note added");
    Ok((StatusCode::CREATED, Json(note)))
}
// ANCHOR_END: add_note

#[tracing::instrument(name = "store note", skip_all)]
fn store(notes: &Mutex<Vec<Note>>, text: &str) -> Note {
    let mut notes = notes.lock().unwrap_or_else(PoisonError::into_inner);
    let note = Note {
        id: notes.last().map_or(1, |n| n.id + 1),
        text: text.to_owned(),
    };
    notes.push(note.clone());
    note
}

/// `WEB_PKG_DIR`, else `target/web/example-yew-web` under `base`.
pub fn pkg_dir(variable: Option<String>, base: &Path) -> PathBuf {
    match variable.filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => base.join("target/web/example-yew-web"),
    }
}
