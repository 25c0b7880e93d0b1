//! `DD_TRACE_AGENT_URL=http://127.0.0.1:8126 cargo run -p
//! example-datadog-pricing`, then `curl localhost:3111/price/tea`.

use std::process::ExitCode;

use opentelemetry::global;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// `service` when `DD_SERVICE` is not set.
const SERVICE_NAME: &str = "pricing";
const DEFAULT_PORT: u16 = 3111;

// ANCHOR: exporter
/// The native exporter, configured the Datadog way: `DD_TRACE_AGENT_URL`
/// (default `http://127.0.0.1:8126`); `DD_SERVICE`, `DD_ENV` and
/// `DD_VERSION` are read by the exporter itself.
#[allow(deprecated, reason = "the crate's last release; see the chapter")]
fn tracer_provider() -> Result<SdkTracerProvider, opentelemetry_datadog::Error> {
    let agent = std::env::var("DD_TRACE_AGENT_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8126".to_owned());
    let mut pipeline = opentelemetry_datadog::new_pipeline()
        .with_agent_endpoint(agent)
        .with_api_version(opentelemetry_datadog::ApiVersion::Version05);
    if std::env::var_os("DD_SERVICE").is_none() {
        pipeline = pipeline.with_service_name(SERVICE_NAME);
    }
    pipeline.install_batch()
}
// ANCHOR_END: exporter

// ANCHOR: main
/// No `#[tokio::main]`: the exporter's blocking HTTP client runs a runtime of
/// its own, which panics if it is created or dropped inside another one. So
/// the provider is built before the service's runtime starts, and shut down
/// after it ends.
fn main() -> ExitCode {
    let provider = match tracer_provider() {
        Ok(provider) => provider,
        Err(e) => {
            eprintln!("error: the Datadog exporter: {e}");
            return ExitCode::FAILURE;
        }
    };
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    let served = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    // The batch processor's last spans go out before the process ends.
    let flushed = provider.shutdown();
    match (served, flushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("error: flushing spans to the Agent: {e}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main

/// Listens on `HOST:PORT` and serves until SIGTERM or Ctrl-C.
async fn serve() -> Result<(), String> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = match std::env::var("PORT") {
        Err(_) => DEFAULT_PORT,
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
    };
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    axum::serve(listener, example_datadog_pricing::app())
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| format!("serving: {e}"))
}

/// SIGTERM or Ctrl-C.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
