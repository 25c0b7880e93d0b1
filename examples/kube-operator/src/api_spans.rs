//! A client span per Kubernetes API call made inside a span (a reconcile),
//! named after the call's URL template, with `traceparent` added so that an
//! API server that traces continues the trace.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::global;
use opentelemetry_http::HeaderInjector;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, SERVER_ADDRESS,
    URL_TEMPLATE,
};
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Add with `ClientBuilder::with_layer` (or around any service given to
/// `kube::Client::new`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiSpans;

impl<S> Layer<S> for ApiSpans {
    type Service = ApiSpanService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiSpanService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct ApiSpanService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

// ANCHOR: call
impl<S, B, R> Service<Request<B>> for ApiSpanService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The watcher's lists and watches run outside any reconcile: a
        // root trace per watch would be noise.
        let parent = tracing::Span::current();
        if parent.is_none() {
            return Box::pin(self.inner.call(request));
        }
        let method = request.method().as_str().to_owned();
        let template = url_template(request.uri().path());
        let span = tracing::info_span!(
            "kube api",
            otel.name = format!("{method} {template}"),
            otel.kind = "client",
            otel.status_code = Empty,
            { HTTP_REQUEST_METHOD } = method,
            { URL_TEMPLATE } = template,
            { SERVER_ADDRESS } = request.uri().host(),
            { HTTP_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
        );
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(
                &span.context(),
                &mut HeaderInjector(request.headers_mut()),
            )
        });
        let response = self.inner.call(request);
        Box::pin(
            async move {
                let result = response.await;
                let span = tracing::Span::current();
                match &result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status));
                        if status >= 400 {
                            span.record(ERROR_TYPE, status.to_string());
                            span.record("otel.status_code", "ERROR");
                        }
                    }
                    Err(error) => {
                        span.record(ERROR_TYPE, "transport");
                        span.record("otel.status_code", "ERROR");
                        tracing::warn!(%error, "API call failed");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}
// ANCHOR_END: call

// ANCHOR: template
/// `/apis/apps/v1/namespaces/web/deployments/docs` becomes
/// `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`: one span name
/// per kind of call, not per object.
pub fn url_template(path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `/api/v1/...` (the core group) or `/apis/GROUP/VERSION/...`.
    let prefix = match segments.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return path.to_owned(),
    };
    let mut out: Vec<&str> = segments.iter().take(prefix).copied().collect();
    let mut rest = segments.iter().skip(prefix).copied();
    let mut next = rest.next();
    if next == Some("namespaces") {
        out.push("namespaces");
        if rest.next().is_some() {
            out.push("{namespace}");
        }
        next = rest.next();
    }
    if let Some(plural) = next {
        out.push(plural);
        if rest.next().is_some() {
            out.push("{name}");
        }
        // A subresource (`status`, `scale`) is part of the template.
        out.extend(rest);
    }
    format!("/{}", out.join("/"))
}
// ANCHOR_END: template

#[cfg(test)]
mod tests {
    use super::url_template;

    #[test]
    fn templates_name_the_kind_of_call_not_the_object() {
        let cases = [
            (
                "/apis/apps/v1/namespaces/web/deployments/docs",
                "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            ),
            (
                "/apis/book.example.com/v1/namespaces/web/websites/docs/status",
                "/apis/book.example.com/v1/namespaces/{namespace}/websites/{name}/status",
            ),
            (
                "/api/v1/namespaces/web/services/docs",
                "/api/v1/namespaces/{namespace}/services/{name}",
            ),
            ("/apis/apps/v1/deployments", "/apis/apps/v1/deployments"),
            ("/api/v1/namespaces", "/api/v1/namespaces"),
            ("/api/v1/namespaces/web", "/api/v1/namespaces/{namespace}"),
            ("/version", "/version"),
        ];
        for (path, template) in cases {
            assert_eq!(url_template(path), template, "{path}");
        }
    }
}
