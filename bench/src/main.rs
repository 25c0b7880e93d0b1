//! The bench service: `INSTRUMENTATION` picks how its handler is
//! instrumented; `PORT` (default 3000, `0` for a free one) where it listens.
//!
//! | `INSTRUMENTATION` | what runs |
//! |---|---|
//! | `book` (default) | the book's set-up, as every example runs it; the `OTEL_*` variables switch its signals |
//! | `api` | spans and metrics from the OpenTelemetry API (a tower layer), logs through the bridge |
//! | `fastrace` | fastrace spans through its OpenTelemetry reporter (built with `--features fastrace`) |
//! | `none` | no subscriber, no layer, no provider |

use std::error::Error;
use std::process::ExitCode;

use telemetry_cost::{SERVICE_NAME, api, routes, server};

const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> ExitCode {
    let instrumentation = std::env::var("INSTRUMENTATION").unwrap_or_default();
    let served = match instrumentation.as_str() {
        "" | "book" => {
            server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _| {
                telemetry_cost::http::instrument(routes(), meter)
            })
            .await
        }
        "api" => with_api().await,
        "fastrace" => with_fastrace().await,
        "none" => serve(routes()).await,
        other => Err(format!(
            "INSTRUMENTATION={other:?} is not valid: `book`, `api`, `fastrace` or `none`"
        )
        .into()),
    };
    server::exit_code(served)
}

async fn serve(router: axum::Router) -> Result<(), Box<dyn Error>> {
    let listener = server::listen(DEFAULT_PORT).await?;
    axum::serve(listener, router)
        .with_graceful_shutdown(server::shutdown_signal())
        .await?;
    Ok(())
}

async fn with_api() -> Result<(), Box<dyn Error>> {
    let providers = api::init(SERVICE_NAME).map_err(|e| e as Box<dyn Error>)?;
    serve(api::instrument(routes())).await?;
    providers.shutdown().map_err(|e| e as Box<dyn Error>)
}

#[cfg(feature = "fastrace")]
async fn with_fastrace() -> Result<(), Box<dyn Error>> {
    use telemetry_cost::fast;
    fast::init(SERVICE_NAME).map_err(|e| e as Box<dyn Error>)?;
    // The handler's events reach the console only, as in the spans-only
    // mode of the book's set-up.
    let console = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(console).init();
    serve(fast::instrument(routes())).await?;
    fast::flush();
    Ok(())
}

#[cfg(not(feature = "fastrace"))]
async fn with_fastrace() -> Result<(), Box<dyn Error>> {
    Err("INSTRUMENTATION=fastrace needs a build with `--features fastrace`".into())
}
