//! `cargo xtask verify --stack docker`: the scenarios against
//! `docker/otel-stack`. The examples export to the stack's collector; the
//! runner then asserts through the backends' own query APIs: spans from
//! Jaeger's API v3 (`/api/v3/traces`), metrics from Prometheus
//! (`/api/v1/query`). The stack keeps no logs, so log expectations are not
//! checked this way.

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde::Deserialize;

use crate::received::{SpanRecord, spans_of};
use crate::scenario::MetricExpectation;

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
    /// The metric expectations Prometheus cannot confirm: each one becomes a
    /// selector over the names OTLP metrics get in Prometheus, limited to the
    /// scenario's services and to samples written since the run started (an
    /// earlier run's series would otherwise still answer).
    pub async fn metric_failures(
        &self,
        expected: &[MetricExpectation],
        services: &[String],
        since: SystemTime,
    ) -> Result<Vec<String>> {
        let since = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut failures = Vec::new();
        for e in expected {
            let query =
                format!("timestamp({}) > {since}", prometheus_selector(e, services));
            let series =
                crate::prometheus::query(&self.http, &self.prometheus, &query)
                    .await?;
            if series.is_empty() {
                failures.push(format!(
                    "metric {}: Prometheus has no sample since the run began: {query}",
                    e.name
                ));
            }
        }
        Ok(failures)
    }
    // ANCHOR_END: prometheus
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
pub fn prometheus_selector(e: &MetricExpectation, services: &[String]) -> String {
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
            toml::Value::String(s) => s.clone(),
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
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn metric(
        name: &str,
        kind: Option<&str>,
        unit: Option<&str>,
    ) -> MetricExpectation {
        MetricExpectation {
            name: name.into(),
            kind: kind.map(str::to_owned),
            unit: unit.map(str::to_owned),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn otlp_names_become_prometheus_selectors() {
        let mut duration =
            metric("http.server.request.duration", Some("histogram"), Some("s"));
        duration
            .attributes
            .insert("http.route".into(), toml::Value::String("/chain".into()));
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
    fn times_are_rfc3339_in_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_683_625);
        assert_eq!(rfc3339(t), "2026-11-26T09:00:25Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
