//! The docker stacks under `docker/`, where a Docker engine runs:
//! `cargo xtask stack up|down|status [NAME]`, and `cargo xtask verify
//! --stack docker`, which runs the scenarios against `docker/otel-stack`.
//! The examples export to the stack's collector; what the backends hold is
//! read back through their own query APIs into the same received model the
//! embedded collector fills: spans from Jaeger's API v3 (`/api/v3/traces`),
//! metric series from Prometheus (`/api/v1/query`). The stack keeps no logs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde::Deserialize;
use serde_json::Value;

use crate::otlp::received::{MetricRecord, Received, SpanRecord, spans_of};
use crate::repo::{self, relative};
use crate::tools::SystemPackages;
use crate::{proc, services};

/// What to install to validate compose files without an engine.
/// What it needs from the system: a Compose client, `docker compose`
/// (Docker's plugin) or `docker-compose`.
pub const PACKAGES: SystemPackages = SystemPackages {
    what: "a Compose client (the stacks step validates docker/)",
    apt: &["docker-compose"],
    otherwise: "or Docker's `docker compose` plugin",
};

/// A stack: a directory of `docker/` with a `compose.yaml`.
pub struct Stack {
    pub name: String,
    pub compose: PathBuf,
}

pub fn stacks() -> Result<Vec<Stack>> {
    let dir = repo::root().join("docker");
    let mut stacks = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", relative(&dir)))?
    {
        let path = entry?.path();
        let compose = path.join("compose.yaml");
        if compose.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("stack directory names must be UTF-8")?
                .to_owned();
            stacks.push(Stack { name, compose });
        }
    }
    stacks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(stacks)
}

/// The Compose client: `docker compose` (v2) or `docker-compose` (v1).
pub fn compose_client() -> Option<Vec<String>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

/// Whether a Docker engine answers.
fn engine_running() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Compose client, if a Docker engine answers; else what is missing.
pub fn require_engine() -> Result<Vec<String>> {
    let Some(client) = compose_client() else {
        bail!("{}", PACKAGES.hint());
    };
    if !engine_running() {
        bail!(
            "no Docker engine answers here (`docker info` failed). The stacks need \
             Docker with Compose; on this machine, `cargo xtask verify --only stacks` \
             checks them statically, and `cargo xtask verify` without --stack runs \
             the scenarios against the embedded collector"
        );
    }
    Ok(client)
}

/// `cargo xtask stack ACTION [NAME]`.
pub fn run(action: &str, name: Option<&str>) -> Result<()> {
    let all = stacks()?;
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let chosen: Vec<&Stack> = match name {
        Some(name) => {
            vec![all.iter().find(|s| s.name == name).with_context(|| {
                format!("no stack {name:?}; the stacks are {}", names.join(", "))
            })?]
        }
        None if action == "up" => bail!(
            "name the stack to start: {} (they use the same ports)",
            names.join(", ")
        ),
        None => all.iter().collect(),
    };
    let client = require_engine()?;
    let args: &[&str] = match action {
        "up" => &["up", "--detach", "--wait"],
        "down" => &["down", "--volumes"],
        "status" => &["ps"],
        other => bail!("unknown action {other:?}: up, down or status"),
    };
    for stack in chosen {
        let compose = stack.compose.to_string_lossy().into_owned();
        let mut full: Vec<&str> =
            client.iter().skip(1).map(String::as_str).collect();
        full.extend(["--file", &compose]);
        full.extend(args);
        proc::run(&client[0], &full)?;
    }
    Ok(())
}

/// The stack `--stack docker` starts.
pub const STACK: &str = "otel-stack";

/// Where the stack's parts listen (its `compose.yaml` publishes these).
pub struct Backends {
    pub otlp_http: String,
    pub otlp_grpc: String,
    jaeger: String,
    prometheus: String,
    http: reqwest::Client,
}

impl Backends {
    pub fn local() -> Self {
        Backends {
            otlp_http: "http://127.0.0.1:4318".into(),
            otlp_grpc: "http://127.0.0.1:4317".into(),
            jaeger: "http://127.0.0.1:16686".into(),
            prometheus: "http://127.0.0.1:9090".into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The OTLP endpoint for `protocol`.
    pub fn otlp_endpoint(&self, protocol: &str) -> &str {
        if protocol == "grpc" {
            &self.otlp_grpc
        } else {
            &self.otlp_http
        }
    }

    // ANCHOR: jaeger
    /// The spans Jaeger holds for `service`, from traces that started since
    /// `since`: `GET /api/v3/traces` with the service and a time window.
    pub async fn spans(
        &self,
        service: &str,
        since: SystemTime,
    ) -> Result<Vec<SpanRecord>> {
        let to = SystemTime::now() + Duration::from_secs(60);
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v3/traces", self.jaeger),
            &[
                ("query.service_name", service),
                ("query.start_time_min", &rfc3339(since)),
                ("query.start_time_max", &rfc3339(to)),
                ("query.num_traces", "1000"),
            ],
        )?;
        let response = self.http.get(url).send().await.with_context(|| {
            format!("Jaeger's query API at {} does not answer", self.jaeger)
        })?;
        // Jaeger answers 404 while it has no trace for the service yet.
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("Jaeger answered {status}: {text}");
        }
        parse_jaeger(&text)
    }
    // ANCHOR_END: jaeger

    // ANCHOR: prometheus
    /// The series Prometheus holds for the wanted metrics, as metric records:
    /// each wanted metric becomes a selector over the names OTLP metrics get
    /// in Prometheus, limited to `services` and to samples written since
    /// `since` (an earlier run's series would otherwise still answer). Each
    /// series found is a record with the wanted OTLP name and unit, and the
    /// wanted attributes read back from its labels.
    pub async fn metrics(
        &self,
        wanted: &[MetricQuery],
        services: &[String],
        since: SystemTime,
    ) -> Result<Vec<MetricRecord>> {
        let since = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut records = Vec::new();
        for query in wanted {
            let promql = format!(
                "timestamp({}) > {since}",
                prometheus_selector(query, services)
            );
            let series =
                services::prometheus::query(&self.http, &self.prometheus, &promql)
                    .await?;
            records.extend(series.iter().map(|(labels, _)| query.record(labels)));
        }
        Ok(records)
    }
    // ANCHOR_END: prometheus

    /// What the stack holds for this run: the spans Jaeger has for each of
    /// `services` (a trace that crosses services comes back once per
    /// service, and is kept once) and the wanted metrics' series.
    pub async fn received(
        &self,
        services: &[String],
        metrics: &[MetricQuery],
        since: SystemTime,
    ) -> Result<Received> {
        let mut received = Received::default();
        let mut seen = std::collections::HashSet::new();
        for service in services {
            let spans = self.spans(service, since).await.context("Jaeger")?;
            received.spans.extend(
                spans.into_iter().filter(|s| {
                    seen.insert((s.trace_id.clone(), s.span_id.clone()))
                }),
            );
        }
        received.metrics = self
            .metrics(metrics, services, since)
            .await
            .context("Prometheus")?;
        Ok(received)
    }
}

/// A metric a scenario expects, as the stack's Prometheus is asked for it.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    /// The OTLP name, `http.server.request.duration`.
    pub name: String,
    /// `gauge`, `sum`, `histogram`, `exponential_histogram`, when known.
    pub kind: Option<String>,
    /// The UCUM unit, `s`, `By`, `{call}`.
    pub unit: Option<String>,
    /// Attributes a data point must carry; labels are text, so each value
    /// found is read back as the type given here.
    pub attributes: Vec<(String, Value)>,
}

impl MetricQuery {
    /// A series of this metric as a record of what arrived.
    fn record(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> MetricRecord {
        let name = labels
            .get("__name__")
            .map(String::as_str)
            .unwrap_or_default();
        let kind = if name.ends_with("_count") {
            // A histogram's, an exponential one's or a summary's count.
            self.kind.as_deref().map_or("histogram", kind_name)
        } else if name.ends_with("_total") {
            "sum"
        } else {
            self.kind.as_deref().map_or("gauge", kind_name)
        };
        let attributes = self
            .attributes
            .iter()
            .filter_map(|(key, wanted)| {
                let text = labels.get(&escape(key))?;
                let value = match wanted {
                    Value::Number(_) => text
                        .parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| text.parse::<f64>().map(Value::from))
                        .unwrap_or_else(|_| Value::from(text.clone())),
                    Value::Bool(_) => text
                        .parse::<bool>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(text.clone())),
                    _ => Value::from(text.clone()),
                };
                Some((key.clone(), value))
            })
            .collect();
        MetricRecord {
            service_name: labels.get("service_name").cloned().unwrap_or_default(),
            name: self.name.clone(),
            unit: self.unit.clone().unwrap_or_default(),
            kind,
            data_points: 1,
            point_attributes: vec![attributes],
            // Not read back: a `count` expectation is not checked here.
            counts: Vec::new(),
        }
    }
}

/// The received model's name for a metric kind.
fn kind_name(kind: &str) -> &'static str {
    match kind {
        "sum" => "sum",
        "histogram" => "histogram",
        "exponential_histogram" => "exponential_histogram",
        "summary" => "summary",
        _ => "gauge",
    }
}

/// The spans of an API v3 answer: `{"result": TracesData}`, OTLP/JSON with
/// hexadecimal ids. A search that found nothing may answer `{"result": {}}`.
pub fn parse_jaeger(text: &str) -> Result<Vec<SpanRecord>> {
    #[derive(Deserialize)]
    struct Answer {
        result: Found,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Found {
        Traces(TracesData),
        Nothing {},
    }
    let answer: Answer = serde_json::from_str(text).with_context(|| {
        let start: String = text.chars().take(200).collect();
        format!("Jaeger's /api/v3/traces answered something else than {{\"result\": TracesData}}: {start}")
    })?;
    let resource_spans = match answer.result {
        Found::Traces(data) => data.resource_spans,
        Found::Nothing {} => Vec::new(),
    };
    Ok(spans_of(&ExportTraceServiceRequest { resource_spans }))
}

/// A PromQL selector for an expected OTLP metric, after Prometheus 3's
/// default translation: dots become underscores; the unit becomes a suffix
/// (`s` → `_seconds`, `By` → `_bytes`, `{call}` → nothing); counters end in
/// `_total`; a histogram is found by its `_count` series. Attributes become
/// labels the same way, and `service.name` is the `service_name` label the
/// stack's Prometheus promotes from the resource.
pub fn prometheus_selector(e: &MetricQuery, services: &[String]) -> String {
    let base = escape(&e.name);
    let unit = e.unit.as_deref().map(unit_suffix).unwrap_or_default();
    let unit = if unit.is_empty() || base.ends_with(&unit) {
        String::new()
    } else {
        format!("(_{unit})?")
    };
    let kind = match e.kind.as_deref() {
        Some("histogram") | Some("exponential_histogram") => "_count",
        Some("sum") => "(_total)?",
        Some("gauge") => "",
        _ => "(_total|_count)?",
    };
    let mut matchers = vec![format!("__name__=~\"{base}{unit}{kind}\"")];
    if !services.is_empty() {
        matchers.push(format!("service_name=~\"{}\"", services.join("|")));
    }
    for (key, value) in &e.attributes {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        matchers.push(format!(
            "{}=\"{}\"",
            escape(key),
            value.replace('"', "\\\"")
        ));
    }
    format!("{{{}}}", matchers.join(","))
}

fn escape(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The suffix Prometheus gives a UCUM unit.
fn unit_suffix(unit: &str) -> String {
    let word = |u: &str| -> String {
        match u {
            "s" => "seconds".into(),
            "ms" => "milliseconds".into(),
            "us" => "microseconds".into(),
            "ns" => "nanoseconds".into(),
            "By" => "bytes".into(),
            "KiBy" => "kibibytes".into(),
            "MiBy" => "mebibytes".into(),
            "%" => "percent".into(),
            "1" => String::new(),
            u if u.starts_with('{') => String::new(),
            other => escape(other),
        }
    };
    match unit.split_once('/') {
        Some((per, time)) => {
            let time = match time {
                "s" => "second",
                "m" => "minute",
                "h" => "hour",
                other => other,
            };
            let per = word(per);
            if per.is_empty() {
                format!("per_{time}")
            } else {
                format!("{per}_per_{time}")
            }
        }
        None => word(unit),
    }
}

/// `SystemTime` as RFC 3339 in UTC, which Jaeger's time parameters take.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where no engine runs (this repository's CI), the stack commands say
    /// what is missing and what to run instead.
    #[test]
    fn without_an_engine_the_error_says_what_to_do() {
        if engine_running() {
            return;
        }
        let error = format!("{:#}", require_engine().unwrap_err());
        assert!(
            error.contains("no Compose client")
                || error.contains("no Docker engine"),
            "{error}"
        );
        if error.contains("no Docker engine") {
            assert!(error.contains("--only stacks"), "{error}");
        }
    }
    use std::collections::BTreeMap;

    /// An API v3 answer in the shape Jaeger 2 writes (OTLP/JSON: camelCase,
    /// hexadecimal ids, 64-bit numbers as strings, enums as numbers), for a
    /// server span and its child.
    const ANSWER: &str = r#"{"result": {"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "quickstart"}}]},
        "scopeSpans": [{"scope": {"name": "quickstart"}, "spans": [
            {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
             "parentSpanId": "", "name": "GET /chain", "kind": 2,
             "startTimeUnixNano": "1795683625921767857", "endTimeUnixNano": "1795683625923743345",
             "attributes": [{"key": "http.response.status_code", "value": {"intValue": "200"}}],
             "status": {}},
            {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "b7ad6b7169203331",
             "parentSpanId": "00f067aa0ba902b7", "name": "work", "kind": 1,
             "startTimeUnixNano": "1795683625922000000", "endTimeUnixNano": "1795683625923000000",
             "status": {"code": 2, "message": "boom"}}
        ]}]}]}}"#;

    #[test]
    fn a_jaeger_answer_becomes_span_records() {
        let spans = parse_jaeger(ANSWER).unwrap();
        assert_eq!(spans.len(), 2);
        let server = &spans[0];
        assert_eq!(server.service_name, "quickstart");
        assert_eq!(server.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(server.kind, "server");
        assert_eq!(server.parent_span_id, None);
        assert_eq!(server.attributes["http.response.status_code"], 200);
        let child = &spans[1];
        assert_eq!(child.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(child.status, "error");
        assert_eq!(child.end_unix_nano - child.start_unix_nano, 1_000_000);
    }

    #[test]
    fn an_empty_result_is_no_spans() {
        assert!(parse_jaeger(r#"{"result": {}}"#).unwrap().is_empty());
        assert!(
            parse_jaeger(r#"{"result": {"resourceSpans": []}}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn anything_else_is_an_error_that_quotes_it() {
        let error = parse_jaeger(r#"{"error": {"httpCode": 400}}"#).unwrap_err();
        assert!(format!("{error:#}").contains("httpCode"), "{error:#}");
    }

    fn metric(name: &str, kind: Option<&str>, unit: Option<&str>) -> MetricQuery {
        MetricQuery {
            name: name.into(),
            kind: kind.map(str::to_owned),
            unit: unit.map(str::to_owned),
            attributes: Vec::new(),
        }
    }

    #[test]
    fn otlp_names_become_prometheus_selectors() {
        let mut duration =
            metric("http.server.request.duration", Some("histogram"), Some("s"));
        duration
            .attributes
            .push(("http.route".into(), Value::from("/chain")));
        assert_eq!(
            prometheus_selector(&duration, &["quickstart".to_owned()]),
            r#"{__name__=~"http_server_request_duration(_seconds)?_count",service_name=~"quickstart",http_route="/chain"}"#
        );
        assert_eq!(
            prometheus_selector(
                &metric("circuit_breaker.calls", Some("sum"), Some("{call}")),
                &[]
            ),
            r#"{__name__=~"circuit_breaker_calls(_total)?"}"#
        );
        assert_eq!(
            prometheus_selector(
                &metric("pipeline.stage.throughput", Some("gauge"), Some("{row}/s")),
                &[]
            ),
            r#"{__name__=~"pipeline_stage_throughput(_per_second)?"}"#
        );
        assert_eq!(
            prometheus_selector(&metric("queue.size", None, Some("By")), &[]),
            r#"{__name__=~"queue_size(_bytes)?(_total|_count)?"}"#
        );
    }

    #[test]
    fn a_series_is_read_back_with_the_types_the_expectation_gives() {
        let query = MetricQuery {
            name: "http.server.request.duration".into(),
            kind: None,
            unit: Some("s".into()),
            attributes: vec![
                ("http.response.status_code".into(), Value::from(200)),
                ("http.route".into(), Value::from("/chain")),
            ],
        };
        let labels: BTreeMap<String, String> = [
            ("__name__", "http_server_request_duration_seconds_count"),
            ("service_name", "quickstart"),
            ("http_response_status_code", "200"),
            ("http_route", "/chain"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let record = query.record(&labels);
        assert_eq!(record.name, "http.server.request.duration");
        assert_eq!(record.kind, "histogram");
        assert_eq!(record.service_name, "quickstart");
        assert_eq!(record.point_attributes[0]["http.response.status_code"], 200);
        assert_eq!(record.point_attributes[0]["http.route"], "/chain");
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_683_625);
        assert_eq!(rfc3339(t), "2026-11-26T09:00:25Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
