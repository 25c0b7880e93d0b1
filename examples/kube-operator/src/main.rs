//! The operator: `cargo run -p example-kube-operator` against the cluster of
//! the current kubeconfig (or in-cluster), or against any API URL in
//! `KUBE_API_URL` (`kubectl proxy`'s, or `cargo run --bin mock-apiserver`'s).
//! Health on `PORT` (default 8080): `/healthz`.

use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use example_kube_operator::api_spans::ApiSpans;
use example_kube_operator::{
    Context, Website, error_policy, reconcile, server, telemetry,
};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Config};

const SERVICE_NAME: &str = "website-operator";
const DEFAULT_PORT: u16 = 8080;

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

// ANCHOR: client
/// The API server: `KUBE_API_URL` if set, else kubeconfig or in-cluster.
/// Every call made inside a reconcile becomes a client span.
async fn client() -> Result<Client, Box<dyn std::error::Error>> {
    let config = match std::env::var("KUBE_API_URL").ok().filter(|v| !v.is_empty()) {
        Some(url) => {
            let uri = url
                .parse()
                .map_err(|e| format!("KUBE_API_URL={url:?} is not a URL: {e}"))?;
            Config::new(uri)
        }
        None => Config::infer().await?,
    };
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&ApiSpans)
        .build();
    Ok(client)
}
// ANCHOR_END: client

// ANCHOR: run
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let client = client().await?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    let ctx = Context::new(client.clone(), &meter);

    // Liveness for the kubelet, and the line the book's runner waits for.
    let listener = server::listen(DEFAULT_PORT).await?;
    let health = Router::new().route("/healthz", get(|| async { "ok" }));
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel::<()>();
    let health = tokio::spawn(async move {
        axum::serve(listener, health)
            .with_graceful_shutdown(async {
                let _ = health_stopped.await;
            })
            .await
    });

    // SIGTERM: no new reconciles; those in flight finish, then we flush.
    Controller::new(
        Api::<Website>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Service>::all(client), watcher::Config::default())
    .graceful_shutdown_on(server::shutdown_signal())
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;

    let _ = stop_health.send(());
    let _ = health.await;
    tracing::info!("shutting down");
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: run
