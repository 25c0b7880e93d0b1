//! A desktop app's webview, driven over WebDriver as a user would: a
//! virtual X display (`Xvfb`), WebKitGTK's `WebKitWebDriver`, and a session
//! whose "browser" is the app itself (`webkitgtk:browserOptions`), which
//! the driver starts with the environment the driver was given. Tauri apps
//! on Linux accept automation when `TAURI_WEBVIEW_AUTOMATION=true` (the
//! variable `tauri-driver` sets; the driver itself is not needed here).
//!
//! Screenshots are taken at the X level (`xwd`), not through WebDriver:
//! WebKitWebDriver's screenshot of an app's webview comes back blank.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use tokio::process::Command;

use crate::proc::{self, Attempt, Running, Signal};
use crate::services::browser::Browser;
use crate::tools;

/// What to install when a program is missing.
pub const INSTALL_HINT: &str = "install Debian's xvfb, webkit2gtk-driver, x11-apps and netpbm \
     (apt-get install --no-install-recommends xvfb webkit2gtk-driver x11-apps netpbm)";

/// The programs this needs.
const PROGRAMS: &[&str] =
    &["Xvfb", "WebKitWebDriver", "xwd", "xwdtopnm", "pnmtopng"];
/// The virtual screen: the size of the example's window, so that a capture
/// of the screen is a capture of the window.
pub const SCREEN: (u32, u32) = (640, 420);
/// How long Xvfb and the driver may take to be ready.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// How long a screenshot waits for the window to be drawn.
const PAINT_DEADLINE: Duration = Duration::from_secs(10);

/// What to install, when this machine cannot run a desktop app's webview.
pub fn missing() -> Option<String> {
    PROGRAMS
        .iter()
        .any(|p| tools::on_path(p).is_none())
        .then(|| INSTALL_HINT.to_owned())
}

/// A virtual X display; [`Display::stop`] ends it cleanly (dropped, it is
/// killed, and leaves its lock file behind).
pub struct Display {
    number: u32,
    xvfb: Running,
}

impl Display {
    /// Starts Xvfb on the first display number whose lock file and socket
    /// are free.
    pub async fn start() -> Result<Display> {
        let xvfb =
            tools::on_path("Xvfb").with_context(|| INSTALL_HINT.to_owned())?;
        let number = (90..200)
            .find(|n| !lock_file(*n).exists() && !socket(*n).exists())
            .context("no free X display number between :90 and :199")?;
        let (width, height) = SCREEN;
        let mut running = Running::spawn(
            "Xvfb",
            Command::new(xvfb).args([
                format!(":{number}"),
                "-screen".into(),
                "0".into(),
                format!("{width}x{height}x24"),
                "-nolisten".into(),
                "tcp".into(),
            ]),
        )?;
        let ready = socket(number);
        running
            .wait_until(READY_DEADLINE, || async { ready.exists() })
            .await
            .with_context(|| format!("Xvfb :{number} did not start"))?;
        Ok(Display {
            number,
            xvfb: running,
        })
    }

    /// SIGTERM: Xvfb removes its lock file and socket as it exits.
    pub async fn stop(self) {
        self.xvfb.end(Signal::Terminate, READY_DEADLINE).await;
    }

    /// `:N`, for `DISPLAY`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// The whole screen as a PNG at `png`, once something is drawn on it:
    /// the webview paints a moment after the page has changed.
    pub async fn screenshot(&self, png: &Path) -> Result<()> {
        if let Some(dir) = png.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let ppm = png.with_extension("ppm");
        let drawn = proc::poll_until(PAINT_DEADLINE, Duration::from_millis(200), || async {
            // xwd's format to PPM through netpbm; pipefail: any step failing fails.
            let capture = format!(
                "set -o pipefail; xwd -root -silent -display {} | xwdtopnm 2>/dev/null > '{}'",
                self.name(),
                ppm.display()
            );
            shell(&capture).await?;
            let colours = shell(&format!("ppmhist -noheader '{}' | wc -l", ppm.display())).await?;
            Ok(match colours.trim() {
                "0" | "1" => Attempt::NotYet("the screen is one colour".into()),
                _ => Attempt::Done(()),
            })
        })
        .await;
        let converted = match drawn {
            Ok(()) => shell(&format!(
                "pnmtopng '{}' > '{}'",
                ppm.display(),
                png.display()
            ))
            .await
            .map(drop),
            Err(e) => Err(e.context("the app's window stayed blank")),
        };
        let _ = std::fs::remove_file(&ppm);
        converted
    }
}

/// Runs `script` with bash; its standard output, or why it failed.
async fn shell(script: &str) -> Result<String> {
    let finished = Command::new("bash").args(["-c", script]).output().await?;
    if !finished.status.success() {
        bail!(
            "`{script}` failed ({}): {}",
            finished.status,
            String::from_utf8_lossy(&finished.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&finished.stdout).into_owned())
}

fn lock_file(number: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{number}-lock"))
}

fn socket(number: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{number}"))
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
