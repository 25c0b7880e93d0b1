//! Build the front end (`cargo xtask web`), run with `cargo run -p
//! example-leptos`, open http://localhost:3070. Server spans go to
//! `OTEL_EXPORTER_OTLP_ENDPOINT`; the browser's to `BROWSER_OTLP_ENDPOINT`.

use std::process::ExitCode;

use example_leptos::server_app::{Config, pkg_dir, router};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "leptos-server";
const DEFAULT_PORT: u16 = 3070;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let config = Config {
        pkg_dir: pkg_dir(std::env::var("WEB_PKG_DIR").ok(), &cwd),
        // An OTLP/HTTP receiver the browser can reach, answering CORS.
        browser_endpoint: std::env::var("BROWSER_OTLP_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    if !config.is_built() {
        eprintln!(
            "warning: no front end in {}; run `cargo xtask web`",
            config.pkg_dir.display()
        );
    }
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _addr| {
        router(config, meter)
    });
    server::exit_code(served.await)
}
// ANCHOR_END: main
