//! `productpage`: a product with its reviews, which it asks `reviews` for
//! through its own sidecar's outbound listener, as a meshed service does.
//! The traced client injects the context in the headers the installed
//! propagators write: that, and only that, joins the mesh's spans.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::http::TracedClient;

/// The service's state: the client, and where `reviews` is.
#[derive(Clone)]
pub struct Productpage {
    pub client: TracedClient,
    /// In the mesh, the sidecar's outbound listener.
    pub reviews_url: String,
}

/// The service's routes.
pub fn routes(page: Productpage) -> Router {
    Router::new()
        .route("/products/{id}", get(product))
        .route("/static/{file}", get(asset))
        .with_state(page)
}

fn problem(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn product(
    State(page): State<Productpage>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        let message = format!("{id:?} is not a product id: ids are whole numbers");
        return problem(StatusCode::BAD_REQUEST, message);
    };
    let url = format!("{}/reviews/{id}", page.reviews_url);
    let request = page.client.request(reqwest::Method::GET, &url);
    let response = match page.client.send(request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("reviews unreachable: {e}");
            return problem(
                StatusCode::BAD_GATEWAY,
                format!("reviews unreachable: {e}"),
            );
        }
    };
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let reviews: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !status.is_success() {
        return problem(
            StatusCode::BAD_GATEWAY,
            format!("reviews answered {status}"),
        );
    }
    tracing::info!("product {id} shown with its reviews");
    Json(json!({ "product": id, "reviews": reviews["reviews"] })).into_response()
}

/// A static file: the sidecar does not sample these, and the service,
/// following the sidecar's decision, records nothing either.
async fn asset(Path(file): Path<String>) -> Response {
    tracing::info!("asset {file} served");
    ([("content-type", "text/plain")], format!("{file}\n")).into_response()
}
