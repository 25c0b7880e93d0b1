//! `catalog`, the source of truth: products in memory behind a slow lookup,
//! counting every lookup so that tests and the scenario can tell how often
//! the cache let a request through.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A product, as the catalog stores it and the cache holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub price: u64,
}

/// A product's new name and price.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductUpdate {
    pub name: String,
    pub price: u64,
}

/// The catalog's state.
#[derive(Clone)]
pub struct Catalog {
    products: Arc<Mutex<BTreeMap<String, Product>>>,
    lookups: Arc<AtomicU64>,
    delay: Duration,
}

impl Catalog {
    /// `p-1` and `p-2`, each lookup taking `delay`.
    pub fn new(delay: Duration) -> Self {
        let product = |id: &str, name: &str, price| {
            let product = Product {
                id: id.to_owned(),
                name: name.to_owned(),
                price,
            };
            (id.to_owned(), product)
        };
        Self {
            products: Arc::new(Mutex::new(BTreeMap::from([
                product("p-1", "kettle", 25),
                product("p-2", "teapot", 18),
            ]))),
            lookups: Arc::new(AtomicU64::new(0)),
            delay,
        }
    }

    /// Lookups served so far.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    fn products(&self) -> MutexGuard<'_, BTreeMap<String, Product>> {
        self.products.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The routes: `GET` and `PUT /products/{id}`, `GET /stats`.
pub fn routes(catalog: Catalog) -> Router {
    Router::new()
        .route("/products/{id}", get(product).put(update))
        .route("/stats", get(stats))
        .with_state(catalog)
}

async fn product(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
) -> Response {
    catalog.lookups.fetch_add(1, Ordering::Relaxed);
    // The slow query a cache is for.
    tokio::time::sleep(catalog.delay).await;
    match catalog.products().get(&id) {
        Some(product) => Json(product.clone()).into_response(),
        None => {
            let body = Json(json!({ "error": format!("no product {id}") }));
            (StatusCode::NOT_FOUND, body).into_response()
        }
    }
}

async fn update(
    State(catalog): State<Catalog>,
    Path(id): Path<String>,
    Json(update): Json<ProductUpdate>,
) -> StatusCode {
    let product = Product {
        id: id.clone(),
        name: update.name,
        price: update.price,
    };
    catalog.products().insert(id, product);
    StatusCode::NO_CONTENT
}

async fn stats(State(catalog): State<Catalog>) -> Json<serde_json::Value> {
    Json(json!({ "lookups": catalog.lookups() }))
}
