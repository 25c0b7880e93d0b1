//! A headless Chromium driven over the W3C WebDriver protocol (JSON over
//! HTTP to `chromedriver`): enough to open a page, type, click and wait for
//! text, as a user would. Scenarios use it for the browser examples.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::workspace::{self, ScratchDir};

/// What to install when the browser is missing.
pub const INSTALL_HINT: &str = "install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)";

/// The key W3C WebDriver uses for an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `chromedriver` may take to answer its status endpoint.
const DRIVER_DEADLINE: Duration = Duration::from_secs(20);

/// `chromium` and `chromedriver`, when both are on this machine.
pub fn programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| workspace::on_path(name))?;
    Some((chromium, workspace::on_path("chromedriver")?))
}

/// A browser session; `quit` ends it (dropping kills the driver).
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: ScratchDir,
}

impl Browser {
    /// Starts `chromedriver` on a free port and a headless Chromium session.
    pub async fn start() -> Result<Browser> {
        let (chromium, driver_path) =
            programs().with_context(|| format!("no browser: {INSTALL_HINT}"))?;
        let port = workspace::free_port()?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", driver_path.display()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if started.elapsed() > DRIVER_DEADLINE {
                bail!(
                    "{} did not answer within {DRIVER_DEADLINE:?}",
                    driver_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = ScratchDir::new("chromium-profile")?;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-background-networking",
                    "--no-first-run", "--window-size=1024,768",
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            },
        }}});
        let mut browser = Browser {
            driver,
            http,
            session: base,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", capabilities).await?;
        let id = created["sessionId"]
            .as_str()
            .context("chromedriver answered without a sessionId")?;
        browser.session = format!("{}/session/{id}", browser.session);
        Ok(browser)
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
        let started = Instant::now();
        let mut last = String::from("(no such element)");
        loop {
            if let Ok(id) = self.element(css).await
                && let Ok(shown) = self
                    .call("GET", &format!("/element/{id}/text"), json!({}))
                    .await
            {
                last = shown.as_str().unwrap_or_default().to_owned();
                if last.contains(text) {
                    return Ok(());
                }
            }
            if started.elapsed() > deadline {
                bail!(
                    "{css:?} did not show {text:?} within {deadline:?}; it shows {last:?}{}",
                    self.console().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
    pub async fn quit(mut self) {
        let _ = self.call("DELETE", "", json!({})).await;
        let _ = self.driver.kill().await;
    }
}
