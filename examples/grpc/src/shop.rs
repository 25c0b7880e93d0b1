//! The shop: an HTTP service whose routes call the inventory over gRPC, one
//! route per call shape, and a readiness route that asks the inventory's
//! health service.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::metrics::Meter;
use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

use crate::proto::inventory_client::InventoryClient;
use crate::proto::{GetItemRequest, ListItemsRequest, RestockLine};
use crate::rpc::{Rpc, RpcLayer};

/// The inventory's health service name, as the server registers it.
const INVENTORY: &str = "inventory.v1.Inventory";

// ANCHOR: client
/// The clients of the inventory, every call through the RPC layer.
#[derive(Clone)]
pub struct Shop {
    inventory: InventoryClient<Rpc<Channel>>,
    health: HealthClient<Rpc<Channel>>,
    /// Each call's deadline, sent to the server as `grpc-timeout`.
    timeout: Duration,
}

impl Shop {
    /// Clients of the inventory at `endpoint`. The channel connects on the
    /// first call, so the shop starts (and answers 503) while the inventory
    /// is down.
    pub fn new(endpoint: Endpoint, timeout: Duration, meter: &Meter) -> Self {
        let channel = ServiceBuilder::new()
            .layer(RpcLayer::client(meter, endpoint.uri()))
            .service(endpoint.connect_lazy());
        Self {
            inventory: InventoryClient::new(channel.clone()),
            health: HealthClient::new(channel),
            timeout,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }
}
// ANCHOR_END: client

/// The routes, each request a server span and a duration data point.
pub fn app(shop: Shop, meter: &Meter) -> Router {
    let router = Router::new()
        .route("/items", get(list_items))
        .route("/items/{sku}", get(get_item))
        .route("/restock", post(restock))
        .route("/ready", get(ready))
        .with_state(shop);
    crate::http::instrument(router, meter)
}

/// An item as the shop shows it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemView {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
}

/// One line of a delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct LineView {
    pub sku: String,
    pub quantity: u32,
}

/// What a delivery added.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryView {
    pub lines: u32,
    pub units: u32,
}

// ANCHOR: routes
async fn get_item(
    State(mut shop): State<Shop>,
    Path(sku): Path<String>,
) -> Result<Json<ItemView>, ShopError> {
    let request = shop.request(GetItemRequest { sku });
    let item = shop.inventory.get_item(request).await?.into_inner();
    Ok(Json(ItemView {
        sku: item.sku,
        name: item.name,
        quantity: item.quantity,
    }))
}

async fn list_items(
    State(mut shop): State<Shop>,
) -> Result<Json<Vec<ItemView>>, ShopError> {
    let request = shop.request(ListItemsRequest {});
    let mut stream = shop.inventory.list_items(request).await?.into_inner();
    let mut items = Vec::new();
    while let Some(item) = stream.message().await? {
        items.push(ItemView {
            sku: item.sku,
            name: item.name,
            quantity: item.quantity,
        });
    }
    Ok(Json(items))
}

async fn restock(
    State(mut shop): State<Shop>,
    Json(lines): Json<Vec<LineView>>,
) -> Result<Json<SummaryView>, ShopError> {
    let lines = lines.into_iter().map(|line| RestockLine {
        sku: line.sku,
        quantity: line.quantity,
    });
    let request = shop.request(tokio_stream::iter(lines));
    let summary = shop.inventory.restock(request).await?.into_inner();
    Ok(Json(SummaryView {
        lines: summary.lines,
        units: summary.units,
    }))
}
// ANCHOR_END: routes

/// Ready when the inventory says it serves: what a readiness probe asks.
async fn ready(State(mut shop): State<Shop>) -> StatusCode {
    let request = shop.request(HealthCheckRequest {
        service: INVENTORY.to_owned(),
    });
    match shop.health.check(request).await {
        Ok(response) if response.get_ref().status() == ServingStatus::Serving => {
            StatusCode::OK
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A failed call, answered as HTTP with the status's message in JSON.
#[derive(Debug)]
pub struct ShopError(Status);

impl From<Status> for ShopError {
    fn from(status: Status) -> Self {
        Self(status)
    }
}

// ANCHOR: http_status
impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        let code = crate::rpc::status_code(&self.0);
        let status = match code {
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        if status.is_server_error() {
            tracing::warn!(
                "inventory call failed: {}: {}",
                crate::rpc::code_name(code),
                self.0.message()
            );
        }
        let body = serde_json::json!({ "error": self.0.message() });
        (status, Json(body)).into_response()
    }
}
// ANCHOR_END: http_status
