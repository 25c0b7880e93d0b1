//! The client server functions use: `server_fn`'s browser client, with a
//! client span per call and the trace context in `traceparent`.

use std::future::Future;

use futures::{Sink, Stream};
use leptos::server_fn::Bytes;
use leptos::server_fn::client::Client;
use leptos::server_fn::client::browser::BrowserClient;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::request::browser::BrowserRequest;
use leptos::server_fn::response::browser::BrowserResponse;

/// `#[server(client = TracedClient)]`. On the server the type exists (the
/// macro names it in both builds) but is never called.
pub struct TracedClient;

// ANCHOR: client
impl<E, I, O> Client<E, I, O> for TracedClient
where
    E: FromServerFnError,
    I: FromServerFnError,
    O: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    #[cfg(feature = "hydrate")]
    fn send(
        request: BrowserRequest,
    ) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
        use leptos::server_fn::response::ClientRes;
        use opentelemetry::trace::FutureExt as _;

        // The browser has one thread: the wrapper only satisfies `Send`.
        send_wrapper::SendWrapper::new(async move {
            let (cx, headers) = crate::browser::client_span(
                request.method().as_str(),
                &request.url(),
            );
            for (name, value) in &headers {
                request.headers().set(name, value);
            }
            let sent = <BrowserClient as Client<E, I, O>>::send(request);
            let response = sent.with_context(cx.clone()).await;
            let outcome = match &response {
                Ok(response) => Ok(ClientRes::<E>::status(response)),
                Err(e) => Err(String::from_utf8_lossy(&e.ser()).into_owned()),
            };
            crate::browser::end_client_span(&cx, outcome);
            response
        })
    }
    // ANCHOR_END: client

    #[cfg(not(feature = "hydrate"))]
    fn send(
        request: BrowserRequest,
    ) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
        <BrowserClient as Client<E, I, O>>::send(request)
    }

    #[allow(clippy::type_complexity)]
    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, I, O>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, I, O>>::spawn(future)
    }
}
