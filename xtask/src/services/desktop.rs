//! A desktop app's webview, driven over WebDriver as a user would: a
//! virtual X display (`Xvfb`, [`super::display`]), WebKitGTK's `WebKitWebDriver`, and a session
//! whose "browser" is the app itself (`webkitgtk:browserOptions`), which
//! the driver starts with the environment the driver was given. Tauri apps
//! on Linux accept automation when `TAURI_WEBVIEW_AUTOMATION=true` (the
//! variable `tauri-driver` sets; the driver itself is not needed here).
//!
//! Screenshots are taken at the X level (`xwd`), not through WebDriver:
//! WebKitWebDriver's screenshot of an app's webview comes back blank.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;
use tokio::process::Command;

use crate::proc::{self, Running};
use crate::services::browser::Browser;
use crate::services::display::Display;
use crate::tools::{self, SystemPackages};

/// What to install when a program is missing.
/// What it needs from the system.
pub const PACKAGES: SystemPackages = SystemPackages::apt(
    "Xvfb, WebKitWebDriver and X screenshots (the Tauri scenario)",
    &["xvfb", "webkit2gtk-driver", "x11-apps", "netpbm"],
);

/// The programs this needs.
const PROGRAMS: &[&str] =
    &["Xvfb", "WebKitWebDriver", "xwd", "xwdtopnm", "pnmtopng"];
/// How long the driver may take to be ready.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// What to install, when this machine cannot run a desktop app's webview.
pub fn missing() -> Option<String> {
    PROGRAMS
        .iter()
        .any(|p| tools::on_path(p).is_none())
        .then(|| PACKAGES.hint())
}

/// Starts a display, WebKitWebDriver on it, and a session that launches
/// `binary` (no arguments) with `env` added to the driver's environment.
/// The app gets a home of its own, empty (`HOME` and the XDG directories,
/// where Tauri keeps an app's data), removed with the session: each run
/// starts as on a fresh machine.
pub async fn start_app(binary: &Path, env: &[(String, String)]) -> Result<Browser> {
    if let Some(hint) = missing() {
        bail!("cannot drive a desktop app: {hint}");
    }
    if !binary.is_file() {
        bail!("{} is not built", binary.display());
    }
    let display = Display::start().await?;
    let home = tempfile::Builder::new().prefix("desktop-home-").tempdir()?;
    let port = proc::free_port()?;
    let mut command = Command::new("WebKitWebDriver");
    command
        .arg(format!("--port={port}"))
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("DISPLAY", display.name())
        .env("TAURI_WEBVIEW_AUTOMATION", "true")
        // No accessibility bus on a virtual display: GTK would wait for it.
        .env("NO_AT_BRIDGE", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let driver = Running::spawn("WebKitWebDriver", &mut command)?;
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "webkitgtk:browserOptions": { "binary": binary, "args": [] },
    }}});
    let mut browser =
        Browser::connect(driver, port, capabilities, READY_DEADLINE, Some(display))
            .await?;
    browser.keep_until_quit(home);
    Ok(browser)
}
