//! {{title}}: the pattern lives here; `main.rs` wires it up.

use axum::Router;
use axum::routing::get;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Level;

/// The service: one route, a span per request.
pub fn app() -> Router {
    Router::new()
        .route("/", get(index))
        // tower-http's spans default to DEBUG, below the exporter's INFO filter.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO)),
        )
}

#[tracing::instrument]
async fn index() -> &'static str {
    tracing::info!("index served");
    "{{title}}\n"
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn index_answers() {
        let response = super::app()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
