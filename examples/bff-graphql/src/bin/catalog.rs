//! `catalog`, one service behind the BFF: `GET /products?ids=1,2,3` answers
//! every product it knows of, in one call.

use std::process::ExitCode;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "catalog";
const DEFAULT_PORT: u16 = 3031;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        let routes = Router::new().route("/products", get(products));
        example_bff_graphql::http::instrument(routes, meter)
    });
    server::exit_code(served.await)
}

#[derive(Deserialize)]
struct Ids {
    ids: String,
}

async fn products(Query(Ids { ids }): Query<Ids>) -> Response {
    let mut found = Vec::new();
    for id in ids.split(',') {
        let Ok(id) = id.trim().parse::<u32>() else {
            let error = json!({ "error": format!("{id:?} is not a product id") });
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        };
        let product = match id {
            1 => Some(("Rust in Action", 39)),
            2 => Some(("A desk lamp", 25)),
            3 => Some(("Coffee, 1 kg", 18)),
            _ => None,
        };
        if let Some((name, price)) = product {
            found.push(json!({ "id": id, "name": name, "price": price }));
        }
    }
    tracing::info!(
        requested = ids.split(',').count(),
        found = found.len(),
        "products"
    );
    Json(found).into_response()
}
