//! `reviews`: the reviews of a product, the leaf of the call chain.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The service's routes.
pub fn routes() -> Router {
    Router::new().route("/reviews/{product}", get(reviews))
}

async fn reviews(Path(product): Path<String>) -> Response {
    let Ok(product) = product.parse::<u64>() else {
        let message =
            format!("{product:?} is not a product id: ids are whole numbers");
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
            .into_response();
    };
    tracing::info!("reviews of product {product} read");
    Json(json!({
        "product": product,
        "reviews": [{ "stars": 5, "text": "An extremely entertaining play." }],
    }))
    .into_response()
}
