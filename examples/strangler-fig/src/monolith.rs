//! `monolith`, the legacy service: orders and customers, every one of them,
//! archived or not. The strangler fig moves its orders away route by route;
//! its customers stay.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{Problem, parse_id, records};

/// Who answered, in every answer: the facade hides it otherwise.
pub const SERVED_BY: &str = "monolith";

/// The monolith's routes.
pub fn routes() -> Router {
    Router::new()
        .route("/orders/{id}", get(order))
        .route("/customers/{id}", get(customer))
}

async fn order(Path(id): Path<String>) -> Result<Response, Problem> {
    let id = parse_id(&id)?;
    match records::order(id) {
        Some(order) => {
            tracing::info!("order {id} read, archive included");
            Ok(Json(json!({ "order": order, "served_by": SERVED_BY }))
                .into_response())
        }
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no order {id}"),
        )),
    }
}

async fn customer(Path(id): Path<String>) -> Result<Response, Problem> {
    let id = parse_id(&id)?;
    match records::customer(id) {
        Some(customer) => Ok(Json(
            json!({ "customer": customer, "served_by": SERVED_BY }),
        )
        .into_response()),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no customer {id}"),
        )),
    }
}
