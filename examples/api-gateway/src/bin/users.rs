//! `users`, an upstream of the gateway: `GET /users/{id}`.

use std::process::ExitCode;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "users";
const DEFAULT_PORT: u16 = 3021;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        let routes = Router::new().route("/users/{id}", get(user));
        example_api_gateway::http::instrument(routes, meter)
    });
    server::exit_code(served.await)
}

async fn user(Path(id): Path<u32>) -> Response {
    let name = match id {
        1 => "alice",
        2 => "bob",
        _ => {
            let error = json!({ "error": format!("no user {id}") });
            return (StatusCode::NOT_FOUND, Json(error)).into_response();
        }
    };
    Json(json!({ "id": id, "name": name })).into_response()
}
