//! The Yew front end: a list of notes and a form. Loading the page and adding
//! a note are spans in the browser; the API calls they make carry
//! `traceparent`, so the server's spans join the same traces.
#![cfg(target_arch = "wasm32")]

use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

mod browser;

/// `service.name` of the spans this page exports.
const SERVICE_NAME: &str = "yew-web";

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Note {
    id: u64,
    text: String,
}

#[derive(Serialize)]
struct NewNote<'a> {
    text: &'a str,
}

/// What the page shows under the form.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Loading,
    Ready,
    Added(u64),
    Failed(String),
}

// ANCHOR: start
#[wasm_bindgen(start)]
pub fn start() {
    browser::init(SERVICE_NAME);
    yew::Renderer::<App>::new().render();
}
// ANCHOR_END: start

#[component]
fn App() -> Html {
    let notes = use_state(Vec::<Note>::new);
    let status = use_state(|| Status::Loading);
    let input = use_node_ref();

    // ANCHOR: load
    {
        let (notes, status) = (notes.clone(), status.clone());
        use_effect_with((), move |_| {
            // The page load span starts at navigation and ends once the
            // notes are on screen; the GET below is its child.
            let cx = browser::document_load();
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
        });
    }
    // ANCHOR_END: load

    // ANCHOR: click
    let on_add = {
        let (notes, status, input) = (notes.clone(), status.clone(), input.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(field) = input.cast::<HtmlInputElement>() else {
                return;
            };
            let text = field.value();
            // A root span per click: the trace of one user action.
            let cx = browser::user_action("click", "button#add");
            let (notes, status) = (notes.clone(), status.clone());
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
        })
    };
    // ANCHOR_END: click

    let status_text = match &*status {
        Status::Loading => "loading…".to_owned(),
        Status::Ready if notes.len() == 1 => "1 note".to_owned(),
        Status::Ready => format!("{} notes", notes.len()),
        Status::Added(id) => format!("added note {id}"),
        Status::Failed(message) => format!("failed: {message}"),
    };
    html! {
        <main>
            <h1>{ "Notes" }</h1>
            <ul id="notes">
                { for notes.iter().map(|n| html! { <li key={n.id}>{ &n.text }</li> }) }
            </ul>
            <input id="text" ref={input} placeholder="A new note" />
            <button id="add" onclick={on_add}>{ "Add" }</button>
            <p id="status">{ status_text }</p>
        </main>
    }
}

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
