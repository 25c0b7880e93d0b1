//! `shop`: products read through the cache, written to the catalog (then
//! invalidated in the cache).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::FutureExt as _;
use opentelemetry::metrics::Meter;
use reqwest::Method;
use serde_json::json;

use crate::cache::{Filled, ProductCache};
use crate::catalog::{Product, ProductUpdate};
use crate::http::TracedClient;

/// The shop's state.
#[derive(Clone)]
pub struct Shop {
    pub cache: Arc<ProductCache>,
    pub client: TracedClient,
    pub catalog_url: String,
}

/// The routes, each request a server span and a duration data point.
pub fn app(shop: Shop, meter: &Meter) -> Router {
    let router = Router::new()
        .route("/products/{id}", get(product).put(update))
        .with_state(shop);
    crate::http::instrument(router, meter)
}

// ANCHOR: routes
async fn product(State(shop): State<Shop>, Path(id): Path<String>) -> Response {
    let url = format!("{}/products/{id}", shop.catalog_url);
    let client = shop.client.clone();
    let source = move || fetch(client, url).boxed();
    match shop.cache.get(&id, source).await {
        Ok(Some(product)) => Json(product).into_response(),
        Ok(None) => {
            let body = Json(json!({ "error": format!("no product {id}") }));
            (StatusCode::NOT_FOUND, body).into_response()
        }
        Err(error) => (StatusCode::BAD_GATEWAY, Json(json!({ "error": error })))
            .into_response(),
    }
}

async fn update(
    State(shop): State<Shop>,
    Path(id): Path<String>,
    Json(update): Json<ProductUpdate>,
) -> Response {
    let url = format!("{}/products/{id}", shop.catalog_url);
    let request = shop.client.request(Method::PUT, &url).json(&update);
    match shop.client.send(request).await {
        Ok(response) if response.status().is_success() => {
            // Write to the source, then drop the cached copy.
            shop.cache.invalidate(&id).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(response) => {
            let error = format!("the catalog answered {}", response.status());
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": error })))
                .into_response()
        }
        Err(error) => {
            let error = format!("the catalog did not answer: {error}");
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": error })))
                .into_response()
        }
    }
}
// ANCHOR_END: routes

/// The source: the catalog's answer, `None` for a 404.
async fn fetch(client: TracedClient, url: String) -> Filled {
    let response = client
        .send(client.request(Method::GET, &url))
        .await
        .map_err(|e| format!("the catalog did not answer: {e}"))?;
    match response.status() {
        status if status.is_success() => response
            .json::<Product>()
            .await
            .map(Some)
            .map_err(|e| format!("the catalog sent no product: {e}")),
        reqwest::StatusCode::NOT_FOUND => Ok(None),
        status => Err(format!("the catalog answered {status}")),
    }
}
