//! Build the front end (`cargo xtask web`, or the README's two commands), run
//! with `cargo run -p example-yew`, open http://localhost:3060. Server spans go
//! to `OTEL_EXPORTER_OTLP_ENDPOINT`; the browser's to `BROWSER_OTLP_ENDPOINT`.

use std::process::ExitCode;

use example_yew::{Web, app, pkg_dir};

mod server;
mod telemetry;

const SERVICE_NAME: &str = "yew-api";
const DEFAULT_PORT: u16 = 3060;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let web = Web {
        pkg_dir: pkg_dir(std::env::var("WEB_PKG_DIR").ok(), &cwd),
        // An OTLP/HTTP receiver the browser can reach, answering CORS.
        browser_otlp_endpoint: std::env::var("BROWSER_OTLP_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty()),
    };
    if !web.is_built() {
        eprintln!(
            "warning: no front end in {}; run `cargo xtask web`",
            web.pkg_dir.display()
        );
    }
    let served =
        server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _addr| app(web, meter));
    server::exit_code(served.await)
}
// ANCHOR_END: main
