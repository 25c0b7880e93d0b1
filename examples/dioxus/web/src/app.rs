//! The app: its state in signals, the page load and the clicks as spans.

use dioxus::prelude::*;
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::browser;

/// `service.name` of the spans this page exports.
const SERVICE_NAME: &str = "dioxus-web";

/// A book, as the API lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Book {
    id: u64,
    title: String,
    on_loan: bool,
}

/// What `POST /api/loans` takes.
#[derive(Serialize)]
struct NewLoan {
    book_id: u64,
}

/// What the page shows under the list.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Loading,
    Ready,
    Borrowed(String),
    Failed(String),
}

// ANCHOR: start
/// Sets up the page's telemetry, then mounts the app on `<div id="main">`.
#[wasm_bindgen(start)]
pub fn start() {
    browser::init(SERVICE_NAME);
    dioxus::web::launch::launch_cfg(App, dioxus::web::Config::new());
}
// ANCHOR_END: start

// ANCHOR: app
#[component]
fn App() -> Element {
    let mut books = use_signal(Vec::<Book>::new);
    let mut status = use_signal(|| Status::Loading);

    // The page load: a span from navigation until the catalogue has
    // arrived, with its GET as a child. `use_hook` runs this once; the task
    // belongs to the component and is dropped with it.
    use_hook(move || {
        let cx = browser::document_load();
        spawn(
            async move {
                match fetch_books().await {
                    Ok(list) => {
                        books.set(list);
                        status.set(Status::Ready);
                    }
                    Err(e) => failed(status, e),
                }
                opentelemetry::Context::current().span().end();
            }
            .with_context(cx),
        );
    });

    rsx! {
        main {
            h1 { "Reading room" }
            ul { id: "books",
                for book in books() {
                    BookRow { key: "{book.id}", book, books, status }
                }
            }
            p { id: "status", {status_text(&status.read())} }
        }
    }
}
// ANCHOR_END: app

// ANCHOR: row
/// A book and its button. The handler is async: Dioxus polls the future it
/// returns once at once and, while it waits, runs it as a task of this
/// component. The span travels with that future, not with the thread.
#[component]
fn BookRow(book: Book, books: Signal<Vec<Book>>, status: Signal<Status>) -> Element {
    let id = book.id;
    let title = book.title.clone();
    let on_borrow = move |_: MouseEvent| {
        let title = title.clone();
        let cx = browser::user_action("click", &format!("button#borrow-{id}"));
        async move {
            match borrow(id).await {
                Ok(()) => {
                    books.with_mut(|list| {
                        for b in list.iter_mut().filter(|b| b.id == id) {
                            b.on_loan = true;
                        }
                    });
                    status.set(Status::Borrowed(title));
                }
                Err(e) => failed(status, e),
            }
            opentelemetry::Context::current().span().end();
        }
        .with_context(cx)
    };
    rsx! {
        li {
            span { class: "title", "{book.title}" }
            span { class: "state",
                if book.on_loan { " (on loan) " } else { " (on the shelf) " }
            }
            button { id: "borrow-{id}", onclick: on_borrow, "Borrow" }
        }
    }
}
// ANCHOR_END: row

/// Shows what went wrong, and marks the current span (the page load or the
/// click) as failed: the user did not get what they asked for.
fn failed(mut status: Signal<Status>, reason: String) {
    opentelemetry::Context::current()
        .span()
        .set_status(opentelemetry::trace::Status::error(reason.clone()));
    status.set(Status::Failed(reason));
}

fn status_text(status: &Status) -> String {
    match status {
        Status::Loading => "loading…".to_owned(),
        Status::Ready => "ready".to_owned(),
        Status::Borrowed(title) => format!("borrowed {title}"),
        Status::Failed(message) => format!("failed: {message}"),
    }
}

async fn fetch_books() -> Result<Vec<Book>, String> {
    let body = browser::fetch("GET", "/api/books", None)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("bad catalogue: {e}"))
}

async fn borrow(book_id: u64) -> Result<(), String> {
    let body =
        serde_json::to_string(&NewLoan { book_id }).map_err(|e| e.to_string())?;
    browser::fetch("POST", "/api/loans", Some(body))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
