//! A throwaway Prometheus server for scenarios: the system's `prometheus`
//! binary, a temporary configuration that scrapes the scenario's processes
//! every second, a temporary database, a free port. Queried over its HTTP
//! API with PromQL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::proc::{self, Running, Signal};
use crate::tools::{self, SystemPackages};

/// What to install when Prometheus is missing.
/// What it needs from the system.
pub const PACKAGES: SystemPackages =
    SystemPackages::apt("Prometheus (the Prometheus scenario)", &["prometheus"]);

/// How long Prometheus may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// What to install, when this machine has no Prometheus.
pub fn missing() -> Option<String> {
    binary().is_none().then(|| PACKAGES.hint())
}

/// `prometheus` on this machine.
pub fn binary() -> Option<PathBuf> {
    tools::on_path("prometheus")
}

/// A job: the targets Prometheus scrapes under one `job` label.
pub struct Job {
    pub name: String,
    /// `host:port`.
    pub target: String,
    pub metrics_path: String,
}

/// A running Prometheus; [`Prometheus::stop`] ends it, then removes its
/// directory (dropped, it is killed).
pub struct Prometheus {
    process: Running,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `jobs` every second, evaluating the rule
    /// files `rules` every second, and waits until it is ready.
    pub async fn start(jobs: &[Job], rules: &[PathBuf]) -> Result<Prometheus> {
        let binary = binary().with_context(|| PACKAGES.hint())?;
        let port = proc::free_port()?;
        let dir = tempfile::Builder::new().prefix("prometheus-").tempdir()?;
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for job in jobs {
            config += &format!(
                "  - job_name: {:?}\n    metrics_path: {:?}\n    static_configs:\n      - targets: [{:?}]\n",
                job.name, job.metrics_path, job.target
            );
        }
        if !rules.is_empty() {
            config += "rule_files:\n";
            for file in rules {
                if !file.is_file() {
                    bail!("no rule file {}", crate::repo::relative(file));
                }
                config += &format!("  - {:?}\n", file.display().to_string());
            }
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let mut process = Running::spawn(
            "prometheus",
            Command::new(&binary)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--web.enable-remote-write-receiver"),
        )?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let ready = format!("{url}/-/ready");
        process
            .wait_until(READY_DEADLINE, || proc::answers(&http, &ready))
            .await
            .context("Prometheus did not become ready")?;
        Ok(Prometheus {
            process,
            url,
            _dir: dir,
            http,
        })
    }

    /// SIGTERM and a wait, before its directory is removed.
    pub async fn stop(self) {
        self.process
            .end(Signal::Terminate, Duration::from_secs(10))
            .await;
    }

    /// The series of an instant query: labels and value.
    pub async fn query(
        &self,
        promql: &str,
    ) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
        query(&self.http, &self.url, promql).await
    }
}

/// Runs `promtool test rules` on each of `files`: their alerts fire, and
/// stay quiet, where their tests say.
pub async fn test_rules(files: &[PathBuf]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let promtool = tools::on_path("promtool").with_context(|| PACKAGES.hint())?;
    for file in files {
        let output = Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .arg(file)
            .output()
            .await
            .context("running promtool")?;
        if !output.status.success() {
            bail!(
                "promtool test rules {} failed:\n{}{}",
                crate::repo::relative(file),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

/// The series of an instant query against the Prometheus at `base_url`.
pub async fn query(
    http: &reqwest::Client,
    base_url: &str,
    promql: &str,
) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
    let url = reqwest::Url::parse_with_params(
        &format!("{base_url}/api/v1/query"),
        &[("query", promql)],
    )?;
    let text = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("Prometheus at {base_url} does not answer"))?
        .text()
        .await?;
    let reply: Value = serde_json::from_str(&text).with_context(|| {
        format!("Prometheus answered with something that is not JSON: {text}")
    })?;
    if reply["status"] != "success" {
        bail!(
            "PromQL {promql:?}: {} {}",
            reply["errorType"].as_str().unwrap_or_default(),
            reply["error"].as_str().unwrap_or_default()
        );
    }
    parse_vector(&reply["data"])
}

/// An instant vector from the API's `data`.
fn parse_vector(data: &Value) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
    if data["resultType"] != "vector" {
        bail!("expected an instant vector, got {}", data["resultType"]);
    }
    let mut series = Vec::new();
    for item in data["result"].as_array().into_iter().flatten() {
        let labels = item["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let value = item["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .context("a sample without a numeric value")?;
        series.push((labels, value));
    }
    Ok(series)
}

impl Service for Prometheus {
    fn stops(&self) -> Stops {
        Stops::BeforeProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin((*self).stop())
    }
}

#[cfg(test)]
mod tests {
    use super::{PACKAGES, PathBuf, parse_vector, test_rules, tools};
    use serde_json::json;

    #[test]
    fn reads_an_instant_vector_as_prometheus_sends_it() {
        // The shape of /api/v1/query's data, as Prometheus 2.42 answers.
        let data = json!({
            "resultType": "vector",
            "result": [
                { "metric": { "__name__": "app_greetings_total", "job": "app",
                              "greeting_language": "en" },
                  "value": [1764133200.123, "5"] },
            ],
        });
        let series = parse_vector(&data).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].0["greeting_language"], "en");
        assert_eq!(series[0].1, 5.0);
        assert!(
            parse_vector(&json!({ "resultType": "matrix", "result": [] })).is_err()
        );
    }

    /// A rule and its unit test, with the test's expected alert `fires`
    /// or not; the rule fires on a counter that keeps rising.
    fn rule_files(dir: &std::path::Path, expected: &str) -> PathBuf {
        std::fs::write(
            dir.join("alerts.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: Rising\n        \
             expr: increase(c_total[5m]) > 0\n",
        )
        .unwrap();
        let test = dir.join("alerts.test.yml");
        std::fs::write(
            &test,
            format!(
                "rule_files: [alerts.yml]\nevaluation_interval: 1m\ntests:\n  \
                 - interval: 1m\n    input_series:\n      \
                 - series: c_total\n        values: \"0+1x10\"\n    \
                 alert_rule_test:\n      - eval_time: 5m\n        \
                 alertname: Rising\n        exp_alerts: {expected}\n"
            ),
        )
        .unwrap();
        test
    }

    #[tokio::test]
    async fn rule_tests_pass_and_fail_as_promtool_says() {
        if tools::on_path("promtool").is_none() {
            eprintln!("skipped: no promtool ({})", PACKAGES.hint());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let fires = rule_files(dir.path(), "[{exp_labels: {}}]");
        test_rules(&[fires]).await.unwrap();
        let quiet = rule_files(dir.path(), "[]");
        let error = test_rules(&[quiet]).await.unwrap_err().to_string();
        assert!(
            error.contains("promtool test rules") && error.contains("FAILED"),
            "{error}"
        );
    }
}
