//! {{title}}: the pattern lives here; `main.rs` wires it up.

use axum::Router;
use axum::routing::get;
use opentelemetry::metrics::Meter;

pub mod http;

/// The service: one route, each request a server span and a duration data
/// point.
pub fn app(meter: &Meter) -> Router {
    http::instrument(Router::new().route("/", get(index)), meter)
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
    use opentelemetry::metrics::MeterProvider as _;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn index_answers() {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::default();
        let meter = provider.meter("test");
        let response = super::app(&meter)
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
