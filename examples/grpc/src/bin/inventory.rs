//! The inventory: a tonic gRPC server. Run with `cargo run --bin inventory`,
//! then `grpcurl -plaintext -d '{"sku":"sku-1"}' localhost:50051
//! inventory.v1.Inventory/GetItem`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REMOTE_DELAY_MS` | `300` | how long a lookup in the remote warehouse takes |

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use example_grpc::inventory::InventoryService;
use example_grpc::proto::{self, inventory_server::InventoryServer};
use example_grpc::rpc::{Methods, RpcLayer};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "inventory";
const DEFAULT_PORT: u16 = 50051;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    let remote_delay =
        match std::env::var("REMOTE_DELAY_MS") {
            Err(_) => Duration::from_millis(300),
            Ok(value) => value.trim().parse().map(Duration::from_millis).map_err(
                |_| {
                    format!(
                        "REMOTE_DELAY_MS={value:?} is not a number of milliseconds"
                    )
                },
            )?,
        };
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<InventoryServer<InventoryService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let methods = Methods::from_descriptor_sets(&[
        proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ])?;

    let listener = server::listen(DEFAULT_PORT).await?;
    Server::builder()
        .layer(RpcLayer::server(&meter, methods))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(InventoryServer::new(InventoryService::new(remote_delay)))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            server::shutdown_signal(),
        )
        .await?;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: main
