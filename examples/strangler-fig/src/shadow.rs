//! Shadow traffic, seen from the new service: Envoy sends it a copy of a
//! request the monolith answers, with `-shadow` appended to the host
//! (`shop.example` becomes `shop.example-shadow`), and throws the answer
//! away. The service marks the copy's span, so that a trace, a query or a
//! dashboard can tell rehearsal from real traffic.

use axum::extract::Request;
use axum::http::header::HOST;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::Response;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: mark
/// The attribute that marks a mirrored request's server span.
pub const MIGRATION_SHADOW: &str = "migration.shadow";

/// What Envoy appends to the host of a mirrored request.
pub const SHADOW_SUFFIX: &str = "-shadow";

/// Whether the request is a mirrored copy: its host, without the port,
/// ends with [`SHADOW_SUFFIX`]. The host is the `Host` header (HTTP/1.1)
/// or, over HTTP/2, the URI's authority (`:authority`).
pub fn is_shadow(uri: &Uri, headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(Authority::as_str));
    let Some(host) = host else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.ends_with(SHADOW_SUFFIX)
}

/// A middleware inside the server span: marks the span of a mirrored
/// request with `migration.shadow = true`.
pub async fn mark(request: Request, next: Next) -> Response {
    if is_shadow(request.uri(), request.headers()) {
        tracing::Span::current().set_attribute(MIGRATION_SHADOW, true);
    }
    next.run(request).await
}
// ANCHOR_END: mark

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, value.parse().unwrap());
        headers
    }

    fn path() -> Uri {
        Uri::from_static("/orders/1")
    }

    #[test]
    fn the_suffix_before_the_port_marks_a_copy() {
        assert!(is_shadow(&path(), &host("localhost-shadow:3160")));
        assert!(is_shadow(&path(), &host("shop.example-shadow")));
        // HTTP/2: no Host header, the authority in the URI.
        let h2 = Uri::from_static("http://shop.example-shadow:3160/orders/1");
        assert!(is_shadow(&h2, &HeaderMap::new()));
    }

    #[test]
    fn real_requests_are_not_copies() {
        assert!(!is_shadow(&path(), &host("localhost:3160")));
        assert!(!is_shadow(&path(), &host("shadow.example")));
        assert!(!is_shadow(&path(), &host("x-shadow.example:80")));
        assert!(!is_shadow(&path(), &HeaderMap::new()));
        let h2 = Uri::from_static("http://shop.example:3160/orders/1");
        assert!(!is_shadow(&h2, &HeaderMap::new()));
    }
}
