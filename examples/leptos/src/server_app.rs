//! The server side (`ssr`): the notes store, the page, the server functions'
//! routes, the front end's files.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos::server_fn::ServerFn as _;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::TraceContextExt as _;
use tower_http::services::ServeDir;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::{AddNote, ListNotes, MAX_NOTE_CHARS, Note, PageTelemetry, shell};

pub use crate::front_end::Web;

/// The front end: this package built for the browser, whose
/// `wasm-bindgen` output the server serves.
pub const FRONT_END: &str = "example-leptos";

/// The notes, shared by every request.
#[derive(Debug, Clone)]
pub struct Notes(Arc<Mutex<Vec<Note>>>);

impl Default for Notes {
    fn default() -> Self {
        Notes(Arc::new(Mutex::new(vec![Note {
            id: 1,
            text: "Rendered on the server, hydrated in the browser.".into(),
        }])))
    }
}

impl Notes {
    #[tracing::instrument(name = "list notes", skip_all, fields(notes.count))]
    pub fn list(&self) -> Vec<Note> {
        let notes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        tracing::Span::current().record("notes.count", notes.len() as i64);
        notes
    }

    // ANCHOR: add
    /// Adds a note, or says why not.
    #[tracing::instrument(name = "add note", skip_all, fields(note.chars))]
    pub fn add(&self, text: &str) -> Result<Note, String> {
        let text = text.trim();
        let chars = text.chars().count();
        // As i64: tracing-opentelemetry records a u64 (usize) as a string.
        tracing::Span::current().record("note.chars", chars as i64);
        if chars == 0 || chars > MAX_NOTE_CHARS {
            tracing::warn!(chars, "note rejected");
            return Err(format!(
                "a note has 1 to {MAX_NOTE_CHARS} characters, not {chars}"
            ));
        }
        let note = self.store(text);
        tracing::info!(note.id = note.id, "note added");
        Ok(note)
    }
    // ANCHOR_END: add

    #[tracing::instrument(name = "store note", skip_all)]
    fn store(&self, text: &str) -> Note {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let note = Note {
            id: notes.last().map_or(1, |n| n.id + 1),
            text: text.to_owned(),
        };
        notes.push(note.clone());
        note
    }
}

/// The store, from the context every request provides.
pub fn notes() -> Result<Notes, ServerFnError> {
    use_context::<Notes>().ok_or_else(|| {
        ServerFnError::ServerError("no notes store in context".into())
    })
}

/// Sets the status of the server function's response.
pub fn set_status(status: StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

#[derive(Clone)]
struct AppState {
    options: LeptosOptions,
    notes: Notes,
    web: Arc<Web>,
}

// ANCHOR: router
/// The page (`/`), the two server functions, the front end (`/pkg`).
pub fn router(web: Web, meter: &Meter) -> Router {
    // Leptos spawns its resources' futures on tokio. Already initialised
    // is fine (tests build several routers).
    let _ = any_spawner::Executor::init_tokio();
    let options = LeptosOptions::builder()
        .output_name("example_leptos")
        .site_pkg_dir("pkg")
        .build();
    let pkg = ServeDir::new(&web.pkg_dir);
    let state = AppState {
        options,
        notes: Notes::default(),
        web: Arc::new(web),
    };
    let router = Router::new()
        .route("/", get(page))
        .route(ListNotes::PATH, post(server_fn))
        .route(AddNote::PATH, post(server_fn))
        .nest_service("/pkg", pkg)
        .with_state(state);
    crate::http::instrument(router, meter)
}
// ANCHOR_END: router

async fn server_fn(
    State(state): State<AppState>,
    request: Request<Body>,
) -> Response {
    let notes = state.notes.clone();
    leptos_axum::handle_server_fns_with_context(
        move || provide_context(notes.clone()),
        request,
    )
    .await
    .into_response()
}

// ANCHOR: page
/// Renders the page inside the request's server span; the page carries
/// that span's context, so the browser's page load joins this trace.
async fn page(State(state): State<AppState>, request: Request<Body>) -> Response {
    if !state.web.is_built() {
        return state.web.not_built();
    }
    let telemetry = PageTelemetry {
        traceparent: traceparent(&tracing::Span::current()),
        browser_endpoint: state.web.browser_otlp_endpoint.clone(),
    };
    let notes = state.notes.clone();
    let options = state.options.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            provide_context(notes.clone());
            provide_context(telemetry.clone());
        },
        move || shell(options.clone()),
    );
    render(request).await.into_response()
}

/// The span's context as a W3C `traceparent` value.
fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}
// ANCHOR_END: page
