//! The judge: pure functions from a scenario's expectations and what
//! arrived to the list of what is missing or wrong. The embedded collector's
//! runs and the docker stack's feed the same functions; an empty list passes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::snapshot;
use super::spec::{Expect, PromqlExpectation, Snapshot, SpanExpectation};
use crate::otlp::received::{Attributes, Received, SpanRecord};
use crate::otlp::tree::{AttributeFilter, Style};
use crate::services::ddagent;

/// What a source of received telemetry can show. Expectations of what it
/// cannot show are not checked here; the scenarios step prints how many
/// were left out.
#[derive(Debug, Clone, Copy)]
pub struct Visible {
    pub logs: bool,
    /// The export requests themselves (transport, compression, headers).
    pub requests: bool,
    /// Histograms' counts (the stack's metrics are Prometheus series, read
    /// back without them).
    pub counts: bool,
}

impl Visible {
    /// The embedded collector sees everything.
    pub const ALL: Visible = Visible {
        logs: true,
        requests: true,
        counts: true,
    };
    /// The docker stack: spans from Jaeger, metrics from Prometheus.
    pub const STACK: Visible = Visible {
        logs: false,
        requests: false,
        counts: false,
    };
}

/// What a run saw besides OTLP: DogStatsD datagrams, and what each process
/// printed.
#[derive(Debug, Default)]
pub struct Observed {
    pub datagrams: Vec<String>,
    pub outputs: BTreeMap<String, Vec<String>>,
}

impl Observed {
    /// The lines `process` printed, none if it printed nothing.
    fn printed(&self, process: &str) -> &[String] {
        self.outputs
            .get(process)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

pub fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn attributes_match(
    actual: &Attributes,
    wanted: &BTreeMap<String, toml::Value>,
) -> bool {
    wanted
        .iter()
        .all(|(k, v)| actual.get(k).is_some_and(|a| json_eq(a, &toml_to_json(v))))
}

/// Equal, counting an integer and the same float as equal.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn describe_span(e: &SpanExpectation) -> String {
    let mut text = format!("span {:?}", e.name);
    if let Some(kind) = e.kind {
        text += &format!(" kind={}", kind.as_str());
    }
    if let Some(status) = e.status {
        text += &format!(" status={}", status.as_str());
    }
    if let Some(service) = &e.service {
        text += &format!(" service={service}");
    }
    match e.parent.as_deref() {
        Some("") => text += " (a root)",
        Some(parent) => text += &format!(" child of {parent:?}"),
        None => {}
    }
    for (k, v) in &e.attributes {
        text += &format!(" {k}={}", toml_to_json(v));
    }
    if let Some(message) = &e.status_message {
        text += &format!(" status message {message:?}");
    }
    for event in &e.events {
        text += &format!(" event:{event}");
    }
    if let Some(max) = e.max_duration_ms {
        text += &format!(" lasting at most {max} ms");
    }
    if let Some(min) = e.min_duration_ms {
        text += &format!(" lasting at least {min} ms");
    }
    if let Some(target) = &e.linked_to {
        text += &format!(" linked to {target:?}");
    }
    if e.trace_id_time {
        text += " with a trace id that starts with the time";
    }
    if let Some(remote) = &e.remote_parent {
        text += &format!(
            " child of the remote span {} in trace {}",
            remote.span_id, remote.trace_id
        );
    }
    match e.count {
        Some(n) => text + &format!(", exactly {n}"),
        None => text + ", at least 1",
    }
}

/// The first 8 hex digits are Unix seconds from the last hour.
fn starts_with_recent_time(trace_id: &str) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    trace_id
        .get(..8)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .is_some_and(|seconds| {
            seconds <= now + 60 && now.saturating_sub(seconds) < 3600
        })
}

fn span_matches(
    e: &SpanExpectation,
    span: &SpanRecord,
    received: &Received,
) -> bool {
    if span.name != e.name
        || (e.trace_id_time && !starts_with_recent_time(&span.trace_id))
        || e.kind.is_some_and(|k| k.as_str() != span.kind)
        || e.status.is_some_and(|s| s.as_str() != span.status)
        || e.service.as_deref().is_some_and(|s| s != span.service_name)
        || !attributes_match(&span.attributes, &e.attributes)
        || e.status_message
            .as_deref()
            .is_some_and(|m| m != span.status_message)
        || !e.events.iter().all(|event| span.events.contains(event))
        || e.max_duration_ms
            .is_some_and(|max| span.duration_ms() > max)
        || e.min_duration_ms
            .is_some_and(|min| span.duration_ms() < min)
    {
        return false;
    }
    if let Some(remote) = &e.remote_parent
        && (span.trace_id != remote.trace_id
            || span.parent_span_id.as_deref() != Some(remote.span_id.as_str()))
    {
        return false;
    }
    if let Some(target) = &e.linked_to {
        let linked = span.links.iter().any(|(trace_id, span_id)| {
            received.spans.iter().any(|t| {
                &t.trace_id == trace_id && &t.span_id == span_id && &t.name == target
            })
        });
        if !linked {
            return false;
        }
    }
    match e.parent.as_deref() {
        None => true,
        Some("") => span.parent_span_id.is_none(),
        Some(parent_name) => {
            span.parent_span_id.as_deref().is_some_and(|parent_id| {
                received.spans.iter().any(|p| {
                    p.span_id == parent_id
                        && p.trace_id == span.trace_id
                        && p.name == parent_name
                })
            })
        }
    }
}

/// What is missing or wrong; empty when everything expected arrived.
pub fn check(
    expect: &Expect,
    received: &Received,
    observed: &Observed,
    visible: Visible,
) -> Vec<String> {
    let mut failures = Vec::new();
    for e in expect.request.iter().filter(|_| visible.requests) {
        let found = received.requests.iter().any(|r| {
            r.signal == e.signal.as_str()
                && e.transport.is_none_or(|t| t.as_str() == r.transport)
                && e.compression.is_none_or(|c| {
                    r.compression.as_deref().unwrap_or("none") == c.as_str()
                })
                && e.headers.iter().all(|(k, v)| r.headers.get(k) == Some(v))
                && e.security.is_none_or(|s| s == r.security)
        });
        if !found {
            let seen: Vec<String> = received
                .requests
                .iter()
                .filter(|r| r.signal == e.signal.as_str())
                .map(|r| {
                    format!(
                        "{} {} {} {:?}",
                        r.transport,
                        r.security.as_str(),
                        r.compression.as_deref().unwrap_or("none"),
                        r.headers
                            .iter()
                            .filter(|(k, _)| e.headers.contains_key(*k))
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            failures.push(format!(
                "a {} export request{}{}{}{}; {} such requests arrived: {seen:?}",
                e.signal.as_str(),
                e.transport
                    .map(|t| format!(" over {}", t.as_str()))
                    .unwrap_or_default(),
                e.security
                    .map(|s| format!(" secured {}", s.as_str()))
                    .unwrap_or_default(),
                e.compression
                    .map(|c| format!(" compressed {}", c.as_str()))
                    .unwrap_or_default(),
                if e.headers.is_empty() {
                    String::new()
                } else {
                    format!(" with headers {:?}", e.headers)
                },
                seen.len()
            ));
        }
    }
    failures.extend(check_spans(expect, received));
    for e in &expect.metric {
        let found = received.metrics.iter().any(|m| {
            m.name == e.name
                && m.data_points > 0
                && e.kind.is_none_or(|k| k.as_str() == m.kind)
                && e.unit.as_deref().is_none_or(|u| u == m.unit)
                && m.point_attributes.iter().enumerate().any(|(i, a)| {
                    attributes_match(a, &e.attributes)
                        && e.count
                            .filter(|_| visible.counts)
                            .is_none_or(|n| m.counts.get(i) == Some(&n))
                })
        });
        if !found {
            let mut text = format!("metric {:?}", e.name);
            if let Some(kind) = e.kind {
                text += &format!(" kind={}", kind.as_str());
            }
            if let Some(unit) = &e.unit {
                text += &format!(" unit={unit}");
            }
            for (k, v) in &e.attributes {
                text += &format!(" {k}={}", toml_to_json(v));
            }
            if let Some(n) = e.count {
                text += &format!(" count={n}");
            }
            failures.push(text + " with a data point: none arrived");
        }
    }
    for e in expect.log.iter().filter(|_| visible.logs) {
        let spans: Vec<&SpanRecord> = match &e.in_span {
            Some(name) => {
                received.spans.iter().filter(|s| &s.name == name).collect()
            }
            None => Vec::new(),
        };
        let found = received.logs.iter().any(|log| {
            log.body.contains(&e.body)
                && attributes_match(&log.attributes, &e.attributes)
                && e.severity.is_none_or(|s| {
                    s.as_str().eq_ignore_ascii_case(&log.severity_text)
                })
                && (e.in_span.is_none()
                    || spans.iter().any(|s| {
                        log.trace_id.as_deref() == Some(&s.trace_id)
                            && log.span_id.as_deref() == Some(&s.span_id)
                    }))
        });
        if !found {
            let mut text = format!("log containing {:?}", e.body);
            if let Some(severity) = e.severity {
                text += &format!(" severity={}", severity.as_str());
            }
            for (k, v) in &e.attributes {
                text += &format!(" {k}={}", toml_to_json(v));
            }
            if let Some(span) = &e.in_span {
                text += &format!(" carrying the trace and span id of span {span:?}");
            }
            failures.push(text + ": none arrived");
        }
    }
    let services = received
        .spans
        .iter()
        .map(|s| &s.service_name)
        .chain(received.metrics.iter().map(|m| &m.service_name))
        .chain(received.logs.iter().map(|l| &l.service_name));
    let mut strangers: Vec<&String> =
        services.filter(|s| !expect.services.contains(s)).collect();
    strangers.sort();
    strangers.dedup();
    for s in strangers {
        failures.push(format!(
            "service.name {s:?} arrived; expected only {:?}",
            expect.services
        ));
    }
    if expect
        .services
        .iter()
        .any(|s| !received.spans.iter().any(|sp| &sp.service_name == s))
        && !expect.span.is_empty()
    {
        for s in &expect.services {
            if !received.spans.iter().any(|sp| &sp.service_name == s) {
                failures.push(format!("no span from service.name {s:?}"));
            }
        }
    }
    failures.extend(check_datadog(expect, observed, received));
    failures
}

/// The span expectations alone.
fn check_spans(expect: &Expect, received: &Received) -> Vec<String> {
    let mut failures = Vec::new();
    for e in &expect.span {
        let n = received
            .spans
            .iter()
            .filter(|s| span_matches(e, s, received))
            .count();
        let ok = match e.count {
            Some(want) => n == want,
            None => n > 0,
        };
        if !ok {
            failures.push(format!("{}: {n} arrived", describe_span(e)));
        }
    }
    failures
}

/// The DogStatsD and JSON-log expectations: what is missing, and every
/// received DogStatsD line that is not valid DogStatsD.
fn check_datadog(
    expect: &Expect,
    observed: &Observed,
    received: &Received,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for datagram in &observed.datagrams {
        for line in datagram.lines().filter(|l| !l.is_empty()) {
            match ddagent::parse_datagram(line) {
                Ok(parsed) => lines.push(parsed),
                Err(problem) => failures.push(format!("DogStatsD line {problem}")),
            }
        }
    }
    for e in &expect.dogstatsd {
        let found = lines.iter().any(|d| {
            d.name == e.name
                && d.kind == e.kind.as_str()
                && e.tags.iter().all(|(k, v)| d.tags.get(k) == Some(v))
                && e.value.is_none_or(|v| d.values.contains(&v))
        });
        if !found {
            let tags: Vec<String> =
                e.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            failures.push(format!(
                "DogStatsD {}|{} with tags {tags:?}{}: not among the {} lines received",
                e.name,
                e.kind.as_str(),
                e.value.map(|v| format!(" and value {v}")).unwrap_or_default(),
                lines.len()
            ));
        }
    }
    for e in &expect.json_log {
        let printed = observed.printed(&e.process);
        let found = printed.iter().any(|line| {
            let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line)
            else {
                return false;
            };
            let fields_match = e.fields.iter().all(|(key, wanted)| {
                serde_json::to_value(wanted)
                    .is_ok_and(|w| object.get(key) == Some(&w))
            });
            fields_match && (!e.correlated || names_a_span(&object, received))
        });
        if !found {
            failures.push(format!(
                "a JSON line from {} with {:?}{}: none of its {} lines",
                e.process,
                e.fields,
                if e.correlated {
                    ", whose trace and span ids name a received span"
                } else {
                    ""
                },
                printed.len()
            ));
        }
    }
    for e in &expect.console {
        let printed = observed.printed(&e.process);
        let found = printed.iter().any(|line| {
            line.contains(&e.contains)
                && (!e.correlated
                    || console_ids(line)
                        .is_some_and(|(trace, span)| arrived(received, trace, span)))
        });
        if !found {
            failures.push(format!(
                "a console line from {} containing {:?}{}: none of its {} lines",
                e.process,
                e.contains,
                if e.correlated {
                    ", whose trace_id and span_id name a received span"
                } else {
                    ""
                },
                printed.len()
            ));
        }
    }
    failures
}

/// Whether a span with these W3C ids was received.
fn arrived(received: &Received, trace_id: &str, span_id: &str) -> bool {
    received
        .spans
        .iter()
        .any(|s| s.trace_id == trace_id && s.span_id == span_id)
}

/// The `trace_id=` (32 hex digits) and `span_id=` (16) of a console line.
fn console_ids(line: &str) -> Option<(&str, &str)> {
    let hex = |key: &str, digits: usize| {
        let (_, after) = line.split_once(key)?;
        let id = after.get(..digits)?;
        id.bytes().all(|b| b.is_ascii_hexdigit()).then_some(id)
    };
    Some((hex("trace_id=", 32)?, hex("span_id=", 16)?))
}

/// Whether a JSON log line's ids are those of a received span: `trace_id`
/// and `span_id` (W3C hex), or `dd.trace_id` and `dd.span_id` (decimal,
/// the lower 64 bits).
fn names_a_span(
    object: &serde_json::Map<String, Value>,
    received: &Received,
) -> bool {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if let (Some(trace), Some(span)) = (text("trace_id"), text("span_id")) {
        return arrived(received, trace, span);
    }
    let decimal = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| format!("{v:016x}"))
    };
    let (Some(trace), Some(span)) = (decimal("dd.trace_id"), decimal("dd.span_id"))
    else {
        return false;
    };
    received
        .spans
        .iter()
        .any(|s| s.trace_id.ends_with(&trace) && s.span_id == span)
}

/// The PromQL expectations Prometheus's answers do not meet; `answers`
/// holds each query's series (labels and value), in order.
pub fn promql_failures(
    expectations: &[PromqlExpectation],
    answers: &[Vec<(BTreeMap<String, String>, f64)>],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (e, series) in expectations.iter().zip(answers) {
        let sum: f64 = series.iter().map(|(_, v)| v).sum();
        let labelled = series.iter().all(|(labels, _)| {
            e.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        });
        let valued = e.value.is_none_or(|v| (v - sum).abs() < 1e-9);
        if series.is_empty() || !labelled || !valued {
            failures.push(format!(
                "{}{}{}: got {series:?}",
                e.query,
                e.value.map(|v| format!(" = {v}")).unwrap_or_default(),
                if e.labels.is_empty() {
                    String::new()
                } else {
                    format!(" with {:?}", e.labels)
                }
            ));
        }
    }
    failures
}

/// Expected beside received, for a failing scenario.
pub fn explain(
    failures: &[String],
    received: &Received,
    snapshot: &Snapshot,
) -> String {
    let mut text = String::from(
        "telemetry did not match the scenario\n\nexpected, but not received:\n",
    );
    for f in failures {
        text += &format!("  - {f}\n");
    }
    text += &format!(
        "\nreceived {} spans, {} metric streams, {} log records:\n",
        received.spans.len(),
        received.metrics.len(),
        received.logs.len()
    );
    let style = Style {
        timings: false,
        attributes: if snapshot.attributes.is_empty() {
            AttributeFilter::Key
        } else {
            AttributeFilter::Only(&snapshot.attributes)
        },
        width: None,
    };
    text += &indent(&snapshot::render_trees(
        received.spans.iter().collect(),
        &style,
        false,
    ));
    let mut metric_names: Vec<String> = received
        .metrics
        .iter()
        .map(|m| format!("metric {} ({}, {} points)", m.name, m.kind, m.data_points))
        .collect();
    metric_names.sort();
    metric_names.dedup();
    for m in metric_names {
        text += &format!("  {m}\n");
    }
    let mut logs: Vec<(String, usize, usize)> = Vec::new();
    for log in &received.logs {
        let line = format!("log {} {:?}", log.severity_text, log.body);
        let with_trace = usize::from(log.trace_id.is_some());
        match logs.iter_mut().find(|(l, _, _)| *l == line) {
            Some((_, n, traced)) => {
                *n += 1;
                *traced += with_trace;
            }
            None => logs.push((line, 1, with_trace)),
        }
    }
    for (line, n, traced) in logs {
        text += &format!("  {line} x{n}, {traced} with a trace id\n");
    }
    text
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests;
