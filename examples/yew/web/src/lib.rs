//! The Yew front end: a list of notes and a form. Loading the page and adding
//! a note are spans in the browser; the API calls they make carry
//! `traceparent`, so the server's spans join the same traces.
//!
//! `App` compiles for every target: the browser renders or hydrates it, and
//! the server (feature `ssr`) renders it to HTML for `/ssr`. Everything that
//! touches the browser is in `client`, built for wasm only.

use serde::{Deserialize, Serialize};
use yew::prelude::*;

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod client;

/// `service.name` of the spans this page exports.
pub const SERVICE_NAME: &str = "yew-web";
/// The `id` of the `<script type="application/json">` that carries a
/// server-rendered page's notes to the browser, which hydrates with them.
pub const INITIAL_NOTES_ID: &str = "initial-notes";

/// A note, as the API returns it and as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
}

/// `initial`: the notes a server rendered the page with. `None` for the
/// client-rendered page, which fetches them once it runs.
#[derive(Debug, Clone, PartialEq, Default, Properties)]
pub struct Props {
    #[prop_or_default]
    pub initial: Option<Vec<Note>>,
}

/// What the page shows under the form.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Loading,
    Ready,
    Added(u64),
    Failed(String),
}

// ANCHOR: app
#[component]
pub fn App(props: &Props) -> Html {
    let notes = use_state(|| props.initial.clone().unwrap_or_default());
    let status = use_state(|| match props.initial {
        Some(_) => Status::Ready,
        None => Status::Loading,
    });
    let input = use_node_ref();
    // The button stays disabled until the app runs: a server-rendered page
    // shows it before the front end has loaded, when a click would be lost.
    let interactive = use_state(|| false);

    // Effects and callbacks run in the browser only: a server render calls
    // neither, so `client` exists for wasm alone.
    {
        let (notes, status, rendered) =
            (notes.clone(), status.clone(), props.initial.is_some());
        let interactive = interactive.clone();
        use_effect_with((), move |_| {
            interactive.set(true);
            #[cfg(target_arch = "wasm32")]
            client::page_loaded(notes, status, rendered);
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (notes, status, rendered);
        });
    }
    let on_add = {
        let (notes, status, input) = (notes.clone(), status.clone(), input.clone());
        Callback::from(move |_: MouseEvent| {
            #[cfg(target_arch = "wasm32")]
            client::add_clicked(&input, notes.clone(), status.clone());
            #[cfg(not(target_arch = "wasm32"))]
            let _ = (&input, &notes, &status);
        })
    };
    // ANCHOR_END: app

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
            <button id="add" onclick={on_add} disabled={!*interactive}>{ "Add" }</button>
            <p id="status">{ status_text }</p>
        </main>
    }
}
