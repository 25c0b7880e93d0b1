//! A full-stack Leptos app: rendered on the server (axum, feature `ssr`),
//! hydrated in the browser (wasm, feature `hydrate`). The server functions
//! are traced on the server; in the browser, the page load and the click
//! are spans, and the server-function calls carry `traceparent`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub mod client;

#[cfg(feature = "hydrate")]
pub mod browser;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod server_app;

/// `service.name` of the browser's spans.
pub const BROWSER_SERVICE_NAME: &str = "leptos-web";
/// The longest note `add_note` accepts, in characters.
pub const MAX_NOTE_CHARS: usize = 280;

/// A note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
}

// ANCHOR: server_fns
/// The notes, oldest first.
#[server(endpoint = "list_notes", client = crate::client::TracedClient)]
pub async fn list_notes() -> Result<Vec<Note>, ServerFnError> {
    Ok(server_app::notes()?.list())
}

/// Adds a note; 400 for an empty or too long one.
#[server(endpoint = "add_note", client = crate::client::TracedClient)]
pub async fn add_note(text: String) -> Result<Note, ServerFnError> {
    server_app::notes()?.add(&text).map_err(|reason| {
        server_app::set_status(axum::http::StatusCode::BAD_REQUEST);
        ServerFnError::Args(reason)
    })
}
// ANCHOR_END: server_fns

/// The `<meta>` tag `browser.rs` reads the OTLP endpoint from.
const ENDPOINT_META: &str = "otel-exporter-otlp-endpoint";

/// What the browser needs from the server that rendered the page.
#[derive(Debug, Clone, Default)]
pub struct PageTelemetry {
    /// The rendering request's trace context, for the page load span.
    pub traceparent: Option<String>,
    /// Where the browser exports spans (OTLP/HTTP, answering CORS).
    pub browser_endpoint: Option<String>,
}

// ANCHOR: shell
/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let telemetry = use_context::<PageTelemetry>().unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <title>"Notes"</title>
                <link rel="icon" href="data:," />
                {telemetry
                    .traceparent
                    .map(|tp| view! { <meta name="traceparent" content=tp /> })}
                {telemetry
                    .browser_endpoint
                    .map(|url| view! { <meta name=ENDPOINT_META content=url /> })}
                <HydrationScripts options />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}
// ANCHOR_END: shell

/// The app: the notes, rendered on the server first, and a form.
#[component]
pub fn App() -> impl IntoView {
    let notes = Resource::new(|| (), |_| list_notes());
    let status = RwSignal::new(String::new());
    let input = NodeRef::<leptos::html::Input>::new();
    // Effects run only in the browser: "ready" means hydrated, clickable.
    Effect::new(move |_| status.set("ready".to_owned()));

    // ANCHOR: click
    let on_add = move |_| {
        let Some(field) = input.get() else { return };
        let text = field.value();
        #[cfg(feature = "hydrate")]
        {
            use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
            // A root span per click; the server function call is its child.
            let cx = browser::user_action("click", "button#add");
            leptos::task::spawn_local(
                async move {
                    match add_note(text).await {
                        Ok(note) => {
                            field.set_value("");
                            status.set(format!("added note {}", note.id));
                            notes.refetch();
                        }
                        Err(e) => status.set(format!("failed: {e}")),
                    }
                    opentelemetry::Context::current().span().end();
                }
                .with_context(cx),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    // ANCHOR_END: click

    view! {
        <main>
            <h1>"Notes"</h1>
            <Suspense fallback=|| view! { <p>"loading…"</p> }>
                <ul id="notes">
                    {move || {
                        notes
                            .get()
                            .map(|list| {
                                list.unwrap_or_default()
                                    .into_iter()
                                    .map(|n| view! { <li>{n.text}</li> })
                                    .collect_view()
                            })
                    }}
                </ul>
            </Suspense>
            <input id="text" node_ref=input placeholder="A new note" />
            <button id="add" on:click=on_add>"Add"</button>
            <p id="status">{move || status.get()}</p>
        </main>
    }
}

// ANCHOR: hydrate
/// The browser's entry point: the hydration script calls it once the wasm
/// is loaded.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use opentelemetry::trace::TraceContextExt as _;

    browser::init(BROWSER_SERVICE_NAME);
    // From navigation (or from the server's request, when the page names
    // it) to an interactive page.
    let cx = browser::document_load();
    leptos::mount::hydrate_body(App);
    cx.span().end();
}
// ANCHOR_END: hydrate
