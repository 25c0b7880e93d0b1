//! A headless Chromium driven over the W3C WebDriver protocol (JSON over
//! HTTP to `chromedriver`): enough to open a page, type, click and wait for
//! text, as a user would. Scenarios use it for the browser examples.
//!
//! Written here rather than taken from `fantoccini`: the five commands the
//! scenarios use are a few lines each over the `reqwest` client the xtask
//! already has, while `fantoccini` 0.22 without TLS has a tree of 126
//! crates (`cargo tree`), among them a second `icu` stack through the
//! `webdriver` crate, built into every build of the xtask; and Chromium's
//! console log, which failures print, is a vendor endpoint (`/se/log`) it
//! has no call for.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::proc::{self, Attempt, Running, Signal};
use crate::services::display::Display;
use crate::tools::{self, SystemPackages};

/// What to install when the browser is missing.
/// What it needs from the system.
pub const PACKAGES: SystemPackages = SystemPackages::apt(
    "Chromium and chromedriver (the browser scenarios)",
    &["chromium", "chromium-driver"],
);

/// The key W3C WebDriver uses for an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `chromedriver` may take to answer its status endpoint.
const DRIVER_DEADLINE: Duration = Duration::from_secs(20);

/// What to install, when this machine has no browser to drive.
pub fn missing() -> Option<String> {
    programs().is_none().then(|| PACKAGES.hint())
}

/// `chromium` and `chromedriver`, when both are on this machine.
pub fn programs() -> Option<(PathBuf, PathBuf)> {
    let chromium =
        tools::first_on_path(&["chromium", "chromium-browser", "google-chrome"])?;
    Some((chromium, tools::on_path("chromedriver")?))
}

/// A browser session; `quit` ends it (dropping kills the driver).
pub struct Browser {
    driver: Running,
    http: reqwest::Client,
    session: String,
    /// Chromium's profile directory, or a desktop app's home, removed
    /// after the session.
    _profile: Option<tempfile::TempDir>,
    /// The virtual display a desktop app runs on (`services::desktop`).
    display: Option<Display>,
}

impl Browser {
    /// Starts `chromedriver` on a free port and a headless Chromium session.
    pub async fn start() -> Result<Browser> {
        let (chromium, driver_path) = programs().with_context(|| PACKAGES.hint())?;
        let port = proc::free_port()?;
        let driver = Running::spawn(
            "chromedriver",
            Command::new(&driver_path).arg(format!("--port={port}")),
        )?;
        let profile = tempfile::Builder::new()
            .prefix("chromium-profile-")
            .tempdir()?;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-background-networking",
                    "--no-first-run", "--window-size=1024,768",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser =
            Browser::connect(driver, port, capabilities, DRIVER_DEADLINE, None)
                .await?;
        browser.keep_until_quit(profile);
        Ok(browser)
    }

    /// A session of the WebDriver `driver` listening on `port`, once it
    /// answers, with `capabilities`; `display` is kept for the session.
    pub async fn connect(
        mut driver: Running,
        port: u16,
        capabilities: Value,
        deadline: Duration,
        display: Option<Display>,
    ) -> Result<Browser> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let status = format!("{base}/status");
        driver
            .wait_until(deadline, || proc::answers(&http, &status))
            .await
            .with_context(|| format!("{} did not answer", driver.name))?;
        let mut browser = Browser {
            driver,
            http,
            session: base,
            _profile: None,
            display,
        };
        let created = browser.call("POST", "/session", capabilities).await?;
        let id = created["sessionId"].as_str().with_context(|| {
            format!("{} answered without a sessionId", browser.driver.name)
        })?;
        browser.session = format!("{}/session/{id}", browser.session);
        Ok(browser)
    }

    /// Keeps `dir` until the session ends, then removes it.
    pub fn keep_until_quit(&mut self, dir: tempfile::TempDir) {
        self._profile = Some(dir);
    }

    /// The driver's last lines of output: a desktop app's own output too,
    /// as the driver started it.
    pub fn driver_output(&self) -> String {
        self.driver.output_tail()
    }

    /// The virtual display of a desktop app's session.
    pub fn display(&self) -> Option<&Display> {
        self.display.as_ref()
    }

    /// One WebDriver command; its `value`, or its error as a message.
    async fn call(&self, method: &str, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}{path}", self.session);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("WebDriver {method} {path}"))?;
        let text = response
            .text()
            .await
            .with_context(|| format!("WebDriver {method} {path}"))?;
        let reply: Value = serde_json::from_str(&text).with_context(|| {
            format!("WebDriver {method} {path}: the reply is not JSON: {text}")
        })?;
        let value = reply["value"].clone();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value["message"].as_str().unwrap_or_default();
            let first = message.lines().next().unwrap_or_default();
            bail!("WebDriver {method} {path}: {error}: {first}");
        }
        Ok(value)
    }

    /// Loads `url` and waits for its `load` event.
    pub async fn open(&self, url: &str) -> Result<()> {
        self.call("POST", "/url", json!({ "url": url })).await?;
        Ok(())
    }

    async fn element(&self, css: &str) -> Result<String> {
        let found = self
            .call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no element reference for {css:?}"))
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.call("POST", &format!("/element/{id}/click"), json!({}))
            .await?;
        Ok(())
    }

    /// Types `text` into the element `css` selects.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await?;
        Ok(())
    }

    /// Waits until the element `css` selects shows text containing `text`.
    pub async fn wait_for_text(
        &self,
        css: &str,
        text: &str,
        deadline: Duration,
    ) -> Result<()> {
        let waited =
            proc::poll_until(deadline, Duration::from_millis(100), || async {
                let mut shown = String::from("(no such element)");
                if let Ok(id) = self.element(css).await
                    && let Ok(value) = self
                        .call("GET", &format!("/element/{id}/text"), json!({}))
                        .await
                {
                    shown = value.as_str().unwrap_or_default().to_owned();
                    if shown.contains(text) {
                        return Ok(Attempt::Done(()));
                    }
                }
                Ok(Attempt::NotYet(format!("{css:?} shows {shown:?}")))
            })
            .await;
        match waited {
            Ok(()) => Ok(()),
            Err(e) => {
                bail!("{css:?} did not show {text:?}: {e}{}", self.console().await)
            }
        }
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub async fn execute(&self, script: &str) -> Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// The page's console errors since the last call: Chromium's `SEVERE`
    /// entries (an uncaught exception, a resource that failed to load).
    pub async fn console_errors(&self) -> Result<Vec<String>> {
        let entries = self
            .call("POST", "/se/log", json!({ "type": "browser" }))
            .await?;
        Ok(entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"].as_str() == Some("SEVERE"))
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// The page's console messages so far, for error messages.
    pub async fn console(&self) -> String {
        let Ok(entries) = self
            .call("POST", "/se/log", json!({ "type": "browser" }))
            .await
        else {
            return String::new();
        };
        let lines: Vec<String> = entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "  {} {}",
                    e["level"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
        if lines.is_empty() {
            String::new()
        } else {
            format!("\nbrowser console:\n{}", lines.join("\n"))
        }
    }

    /// Ends the session and the driver.
    pub async fn quit(self) {
        // The browser's (or the webview's) helper processes, known now:
        // once their parent is gone they are no one's child.
        let helpers = self.driver.pid().map(proc::descendants).unwrap_or_default();
        let _ = self.call("DELETE", "", json!({})).await;
        // The driver ends the browser (or the app) with it; then the
        // display stops and the profile is removed.
        self.driver
            .end(Signal::Terminate, Duration::from_secs(10))
            .await;
        // WebKit's network process outlives the app by a moment.
        proc::outlived(&helpers, Duration::from_secs(5)).await;
        if let Some(display) = self.display {
            display.stop().await;
        }
    }
}
