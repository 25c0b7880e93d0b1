//! `reviews`, the other service behind the BFF: `GET /reviews?product_ids=1,2`
//! answers the reviews of every product asked for, in one call.

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

const SERVICE_NAME: &str = "reviews";
const DEFAULT_PORT: u16 = 3032;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        let routes = Router::new().route("/reviews", get(reviews));
        example_bff_graphql::http::instrument(routes, meter)
    });
    server::exit_code(served.await)
}

#[derive(Deserialize)]
struct ProductIds {
    product_ids: String,
}

async fn reviews(Query(ProductIds { product_ids }): Query<ProductIds>) -> Response {
    let mut found = Vec::new();
    for id in product_ids.split(',') {
        let Ok(id) = id.trim().parse::<u32>() else {
            let error = json!({ "error": format!("{id:?} is not a product id") });
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        };
        for (rating, text) in match id {
            1 => vec![(5, "Clear and thorough"), (4, "Dense in places")],
            2 => vec![(3, "Bright enough")],
            _ => vec![],
        } {
            found.push(json!({ "product_id": id, "rating": rating, "text": text }));
        }
    }
    Json(found).into_response()
}
