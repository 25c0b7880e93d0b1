//! The browser side of `App`: starting it, the page load and the click, each
//! a span whose API calls carry `traceparent`.

use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::{App, INITIAL_NOTES_ID, Note, Props, SERVICE_NAME, Status, browser};

#[derive(Serialize)]
struct NewNote<'a> {
    text: &'a str,
}

// ANCHOR: start
/// Hydrates a server-rendered page (it carries its notes as JSON), renders
/// the empty one.
#[wasm_bindgen(start)]
pub fn start() {
    browser::init(SERVICE_NAME);
    match initial_notes() {
        Some(notes) => {
            let props = Props {
                initial: Some(notes),
            };
            yew::Renderer::<App>::with_props(props).hydrate();
        }
        None => {
            yew::Renderer::<App>::new().render();
        }
    }
}

fn initial_notes() -> Option<Vec<Note>> {
    let element = web_sys::window()?
        .document()?
        .get_element_by_id(INITIAL_NOTES_ID)?;
    serde_json::from_str(&element.text_content()?).ok()
}
// ANCHOR_END: start

// ANCHOR: load
/// The page load span starts at navigation and ends once the notes are on
/// screen: at once for a server-rendered page, after the GET below (its
/// child) for the empty one.
pub fn page_loaded(
    notes: UseStateHandle<Vec<Note>>,
    status: UseStateHandle<Status>,
    rendered: bool,
) {
    let cx = browser::document_load();
    if rendered {
        cx.span().end();
        return;
    }
    spawn_local(
        async move {
            match fetch_notes().await {
                Ok(list) => {
                    notes.set(list);
                    status.set(Status::Ready);
                }
                Err(e) => status.set(Status::Failed(e)),
            }
            opentelemetry::Context::current().span().end();
        }
        .with_context(cx),
    );
}
// ANCHOR_END: load

// ANCHOR: click
/// A root span per click: the trace of one user action.
pub fn add_clicked(
    input: &NodeRef,
    notes: UseStateHandle<Vec<Note>>,
    status: UseStateHandle<Status>,
) {
    let Some(field) = input.cast::<HtmlInputElement>() else {
        return;
    };
    let text = field.value();
    let cx = browser::user_action("click", "button#add");
    spawn_local(
        async move {
            let added = add_note(&text).await;
            let list = fetch_notes().await;
            match (added, list) {
                (Ok(note), Ok(list)) => {
                    field.set_value("");
                    notes.set(list);
                    status.set(Status::Added(note.id));
                }
                (Err(e), _) | (_, Err(e)) => status.set(Status::Failed(e)),
            }
            opentelemetry::Context::current().span().end();
        }
        .with_context(cx),
    );
}
// ANCHOR_END: click

async fn fetch_notes() -> Result<Vec<Note>, String> {
    let body = browser::fetch("GET", "/api/notes", None)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("bad notes: {e}"))
}

async fn add_note(text: &str) -> Result<Note, String> {
    let body =
        serde_json::to_string(&NewNote { text }).map_err(|e| e.to_string())?;
    let created = browser::fetch("POST", "/api/notes", Some(body))
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&created).map_err(|e| format!("bad note: {e}"))
}
