//! `orders`, an upstream of the gateway: `GET /orders/{id}`, which asks
//! `users` for the customer, so that one request crosses three processes.

use std::process::ExitCode;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use example_api_gateway::http::TracedClient;
use serde_json::{Value, json};

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "orders";
const DEFAULT_PORT: u16 = 3022;

#[derive(Clone)]
struct Users {
    client: TracedClient,
    url: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let users = Users {
        client: TracedClient::new(Duration::from_secs(2)),
        url: std::env::var("USERS_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:3021".to_owned()),
    };
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
        let routes = Router::new()
            .route("/orders/{id}", get(order))
            .with_state(users);
        example_api_gateway::http::instrument(routes, meter)
    });
    server::exit_code(served.await)
}

async fn order(State(users): State<Users>, Path(id): Path<u32>) -> Response {
    let (customer, item) = match id {
        7 => (1, "a book"),
        8 => (2, "a lamp"),
        _ => {
            let error = json!({ "error": format!("no order {id}") });
            return (StatusCode::NOT_FOUND, Json(error)).into_response();
        }
    };
    let url = format!("{}/users/{customer}", users.url);
    let request = users.client.request(reqwest::Method::GET, &url);
    let customer = match users.client.send(request).await {
        Ok(response) if response.status().is_success() => {
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
        Ok(response) => {
            tracing::warn!(status = response.status().as_u16(), "users refused");
            Value::Null
        }
        Err(error) => {
            tracing::warn!(error = %error, "users unreachable");
            Value::Null
        }
    };
    Json(json!({ "id": id, "item": item, "customer": customer })).into_response()
}
