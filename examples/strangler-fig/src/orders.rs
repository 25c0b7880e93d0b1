//! `orders`, the service that replaces the monolith's orders. It answers
//! the same contract, except for archived orders, which it cannot read
//! yet: the kind of gap shadow traffic exists to find before users do.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{Problem, parse_id, records, shadow};

/// Who answered, in every answer.
pub const SERVED_BY: &str = "orders";

// ANCHOR: routes
/// The new service's routes; every request first goes through
/// [`shadow::mark`], which tells a mirrored copy from a real request.
pub fn routes() -> Router {
    Router::new()
        .route("/orders/{id}", get(order))
        .layer(middleware::from_fn(shadow::mark))
}
// ANCHOR_END: routes

async fn order(Path(id): Path<String>) -> Result<Response, Problem> {
    let id = parse_id(&id)?;
    match records::order(id) {
        Some(order) if order.archived => {
            tracing::error!(
                "order {id} is archived: archived orders are not migrated"
            );
            Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "order {id} is archived, and archived orders are not migrated yet"
                ),
            ))
        }
        Some(order) => {
            tracing::info!("order {id} read");
            Ok(Json(json!({ "order": order, "served_by": SERVED_BY }))
                .into_response())
        }
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("no order {id}"),
        )),
    }
}
