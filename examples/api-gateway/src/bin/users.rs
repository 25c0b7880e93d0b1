//! `users`, an upstream of the gateway: `GET /users/{id}`.

use std::error::Error;
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
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let listener = server::listen(DEFAULT_PORT).await?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    let routes = Router::new().route("/users/{id}", get(user));
    axum::serve(
        listener,
        example_api_gateway::http::instrument(routes, &meter),
    )
    .with_graceful_shutdown(server::shutdown_signal())
    .await?;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
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
