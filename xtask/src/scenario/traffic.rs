//! What a scenario does to the running example: its `[[traffic]]` requests,
//! in order, and its `[[browser]]` steps, as a user would take them.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::expect::{json_eq, toml_to_json};
use super::spec::{BrowserStep, Scenario, Traffic};
use crate::proc::{self, Attempt, Running};
use crate::services::browser::Browser;

/// How long a `until` request may be repeated.
const UNTIL_DEADLINE: Duration = Duration::from_secs(20);
/// How long a `wait_for` step may wait.
const BROWSER_WAIT: Duration = Duration::from_secs(20);

/// A process of the example that serves, and the address it printed.
pub struct Server {
    pub process: Running,
    /// `http://ADDR` from its `listening on` line.
    pub url: String,
    /// An Envoy's admin interface, which traffic reaches as `NAME.admin`.
    pub admin_url: Option<String>,
    /// Stopped only once what arrived has been read: a program that sends
    /// its telemetry on a timer (Envoy's metrics) and not at its exit.
    pub lingers: bool,
    /// Frozen by a request with `freeze = true` (SIGSTOP), as Lambda
    /// freezes a function that has answered: thawed before the next
    /// request to it, and killed, not stopped, at the end.
    pub frozen: std::sync::atomic::AtomicBool,
}

impl Server {
    /// One of the book's services, at the address it printed.
    pub fn new(process: Running, url: String) -> Server {
        Server {
            process,
            url,
            admin_url: None,
            lingers: false,
            frozen: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// The server `name` names (`NAME.admin`: an Envoy's admin interface), or
/// the first one, and the address to send to.
pub fn server<'a>(
    servers: &'a [Server],
    name: Option<&str>,
) -> Result<(&'a Server, &'a str)> {
    let found = match name {
        None => servers.first().map(|s| (s, s.url.as_str())),
        Some(name) => match name.strip_suffix(".admin") {
            Some(envoy) => servers
                .iter()
                .find(|s| s.process.name == envoy)
                .and_then(|s| Some((s, s.admin_url.as_deref()?))),
            None => servers
                .iter()
                .find(|s| s.process.name == name)
                .map(|s| (s, s.url.as_str())),
        },
    };
    found.with_context(|| format!("no running process {name:?} to send to"))
}

/// Sends the scenario's requests in order; fails on an unexpected status.
pub async fn drive(scenario: &Scenario, servers: &[Server]) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for traffic in &scenario.traffic {
        let (target, base) = server(servers, traffic.to.as_deref())?;
        let url = format!("{base}{}", traffic.path);
        if let Some(pause) = traffic.pause_ms {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        if let Some(wanted) = &traffic.until {
            repeat_until(&client, traffic, &url, wanted, target).await?;
            continue;
        }
        for _ in 0..traffic.repeat {
            thaw(target);
            let (status, body) = send(&client, traffic, &url, target).await?;
            if traffic.freeze {
                freeze(target);
            }
            if status != traffic.status {
                bail!(
                    "{} {url}: expected status {}, got {status}: {body}",
                    traffic.method.as_str(),
                    traffic.status
                );
            }
        }
    }
    Ok(())
}

/// Freezes `target` (SIGSTOP): none of its threads runs, its exporters'
/// timers included, as on Lambda between two invocations.
fn freeze(target: &Server) {
    target.process.signal(proc::Signal::Freeze);
    target.frozen.store(true, Ordering::SeqCst);
}

/// Thaws `target` if it is frozen (SIGCONT), as Lambda thaws a function
/// for its next invocation.
fn thaw(target: &Server) {
    if target.frozen.swap(false, Ordering::SeqCst) {
        target.process.signal(proc::Signal::Thaw);
    }
}

/// `traffic` once, to its server among `servers`, with `traceparent` over
/// any the scenario gives: its status.
pub async fn send_one(
    client: &reqwest::Client,
    traffic: &Traffic,
    servers: &[Server],
    traceparent: &str,
) -> Result<u16> {
    let (target, base) = server(servers, traffic.to.as_deref())?;
    let url = format!("{base}{}", traffic.path);
    let header = [("traceparent", traceparent)];
    Ok(send_with(client, traffic, &url, target, &header).await?.0)
}

/// One request: its status and body.
async fn send(
    client: &reqwest::Client,
    traffic: &Traffic,
    url: &str,
    target: &Server,
) -> Result<(u16, String)> {
    send_with(client, traffic, url, target, &[]).await
}

/// One request with `extra` headers over the scenario's: status and body.
async fn send_with(
    client: &reqwest::Client,
    traffic: &Traffic,
    url: &str,
    target: &Server,
    extra: &[(&str, &str)],
) -> Result<(u16, String)> {
    let method = reqwest::Method::from_bytes(traffic.method.as_str().as_bytes())?;
    let mut request = client.request(method, url);
    for (k, v) in &traffic.headers {
        if !extra.iter().any(|(name, _)| name.eq_ignore_ascii_case(k)) {
            request = request.header(k, v);
        }
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    if let Some(body) = &traffic.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.with_context(|| {
        format!(
            "{} {url} failed:\n{}",
            traffic.method.as_str(),
            target.process.output_tail()
        )
    })?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// Repeats one request until its answer is the one wanted.
async fn repeat_until(
    client: &reqwest::Client,
    traffic: &Traffic,
    url: &str,
    wanted: &BTreeMap<String, toml::Value>,
    target: &Server,
) -> Result<()> {
    proc::poll_until(UNTIL_DEADLINE, Duration::from_millis(100), || async {
        let (status, body) = send(client, traffic, url, target).await?;
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let matches = status == traffic.status
            && wanted.iter().all(|(pointer, value)| {
                json.pointer(pointer)
                    .is_some_and(|found| json_eq(found, &toml_to_json(value)))
            });
        Ok(if matches {
            Attempt::Done(())
        } else {
            Attempt::NotYet(format!("last answer {status}: {body}"))
        })
    })
    .await
    .with_context(|| {
        format!(
            "{} {url}: not status {} with {wanted:?}",
            traffic.method.as_str(),
            traffic.status
        )
    })
}

/// Runs the `[[browser]]` steps, then leaves the page (`pagehide`: the
/// page sends what it still holds); a desktop app's window stays open.
pub async fn use_browser(
    scenario: &Scenario,
    browser: &Browser,
    servers: &[Server],
) -> Result<()> {
    for (i, step) in scenario.browser.iter().enumerate() {
        let done = match step {
            BrowserStep::Open { path, to } => match server(servers, to.as_deref()) {
                Ok((_, base)) => browser.open(&format!("{base}{path}")).await,
                Err(e) => Err(e),
            },
            BrowserStep::Fill { css, text } => browser.fill(css, text).await,
            BrowserStep::Click { css } => browser.click(css).await,
            BrowserStep::WaitFor { css, text } => {
                browser.wait_for_text(css, text, BROWSER_WAIT).await
            }
            BrowserStep::Screenshot { file } => match browser.display() {
                Some(display) => display.screenshot(&screenshot_path(file)).await,
                None => Err(anyhow::anyhow!("a screenshot needs a desktop app")),
            },
        };
        if let Err(error) = done {
            let mut outputs: Vec<String> = servers
                .iter()
                .map(|s| {
                    format!(
                        "{} printed:\n{}",
                        s.process.name,
                        s.process.output_tail()
                    )
                })
                .collect();
            if browser.display().is_some() {
                let app = browser.driver_output();
                outputs
                    .push(format!("the desktop app and its driver printed:\n{app}"));
            }
            bail!(
                "[[browser]] step {}: {error:#}\n{}",
                i + 1,
                outputs.join("\n")
            );
        }
    }
    match browser.display() {
        // A desktop app's webview sends its spans on its own timer.
        Some(_) => Ok(()),
        None => browser.open("about:blank").await,
    }
}

/// Where a `screenshot` step writes its file.
pub fn screenshot_path(file: &str) -> std::path::PathBuf {
    crate::repo::target_dir().join("screenshots").join(file)
}
