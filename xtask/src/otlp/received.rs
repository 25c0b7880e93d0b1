//! What the embedded collector received, flattened from OTLP's nested
//! resource → scope → item shape into one record per span, metric and log.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::Value;

/// Attributes as JSON values: strings, integers, doubles, booleans, arrays, objects.
pub type Attributes = BTreeMap<String, Value>;

/// One received span.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub service_name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
    pub status_message: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Attributes,
    pub events: Vec<String>,
    pub links: Vec<(String, String)>,
}

impl SpanRecord {
    /// Duration in milliseconds (0 when the end precedes the start).
    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano) as f64 / 1e6
    }
}

#[cfg(test)]
impl SpanRecord {
    /// For tests: a server span named `name` of service `svc` in trace `t`,
    /// unset status, no attributes, 1 ms long from 0.
    pub fn test(name: &str, id: &str, parent: Option<&str>) -> SpanRecord {
        SpanRecord {
            service_name: "svc".into(),
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: name.into(),
            kind: "server",
            status: "unset",
            status_message: String::new(),
            start_unix_nano: 0,
            end_unix_nano: 1_000_000,
            attributes: Attributes::new(),
            events: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// One received metric stream with the number of data points in the batch.
#[derive(Debug, Clone)]
pub struct MetricRecord {
    pub service_name: String,
    pub name: String,
    pub unit: String,
    /// `gauge`, `sum`, `histogram`, `exponential_histogram`, `summary` or `empty`.
    pub kind: &'static str,
    pub data_points: usize,
    /// Attributes of each data point.
    pub point_attributes: Vec<Attributes>,
    /// How many values each data point aggregates: histograms' and
    /// summaries' counts (empty for other kinds).
    pub counts: Vec<u64>,
}

/// One received log record.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub service_name: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub body: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: Attributes,
}

/// How one export request arrived: used to assert what exporters send.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// `traces`, `metrics` or `logs`.
    pub signal: &'static str,
    /// `grpc`, `http/protobuf` or `http/json`.
    pub transport: &'static str,
    /// The `content-encoding` / `grpc-encoding` header, when compressed.
    pub compression: Option<String>,
    /// Every header (gRPC: metadata) with a text value, names lowercase.
    /// What a vendor's endpoint checks: `api-key`, `authorization` ...
    pub headers: std::collections::BTreeMap<String, String>,
    /// Which of the collector's listeners it came through.
    pub security: Security,
}

/// How an export request's connection was secured: which of the
/// collector's listeners took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// No TLS: the plain gRPC and HTTP ports.
    #[default]
    Plaintext,
    /// TLS, the collector's certificate checked by the client.
    Tls,
    /// Mutual TLS: the client's certificate checked by the collector too.
    Mtls,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Plaintext => "plaintext",
            Security::Tls => "tls",
            Security::Mtls => "mtls",
        }
    }
}

/// Everything received so far.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub spans: Vec<SpanRecord>,
    pub metrics: Vec<MetricRecord>,
    pub logs: Vec<LogRecord>,
    pub requests: Vec<RequestRecord>,
    /// Every attribute key that arrived over OTLP, once per place, with the
    /// first thing that carried it: what the semantic-conventions check reads.
    pub keys: BTreeMap<(Place, String), KeySeen>,
}

/// Where in OTLP an attribute key sat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    Resource,
    Scope,
    Span,
    SpanEvent,
    Link,
    DataPoint,
    LogRecord,
}

/// The first thing that carried an attribute key, and every service whose
/// telemetry did.
#[derive(Debug, Clone)]
pub struct KeySeen {
    /// For messages: `span "GET /hello" of axum-quickstart`.
    pub owner: String,
    pub services: BTreeSet<String>,
}

/// Collects keys, keeping the first owner of each. By place, then by key,
/// so that a key seen before costs a lookup and no allocation: a batch
/// carries the same few keys on every span.
#[derive(Default)]
struct Keys(BTreeMap<Place, BTreeMap<String, KeySeen>>);

impl Keys {
    fn add(
        &mut self,
        kvs: &[KeyValue],
        place: Place,
        service: &str,
        owner: impl Fn() -> String,
    ) {
        let seen = self.0.entry(place).or_default();
        for kv in kvs {
            match seen.get_mut(kv.key.as_str()) {
                Some(seen) if seen.services.contains(service) => {}
                Some(seen) => {
                    seen.services.insert(service.to_owned());
                }
                None => {
                    let services = BTreeSet::from([service.to_owned()]);
                    let owner = owner();
                    seen.insert(kv.key.clone(), KeySeen { owner, services });
                }
            }
        }
    }

    fn add_resource_and_scope(
        &mut self,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
        service: &str,
    ) {
        if let Some(resource) = resource {
            self.add(&resource.attributes, Place::Resource, service, || {
                format!("the resource of {service}")
            });
        }
        if let Some(scope) = scope {
            self.add(&scope.attributes, Place::Scope, service, || {
                format!("the scope {:?} of {service}", scope.name)
            });
        }
    }
}

/// The keys of a trace export.
fn keys_of_traces(export: &ExportTraceServiceRequest) -> Keys {
    let mut keys = Keys::default();
    for rs in &export.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            keys.add_resource_and_scope(
                rs.resource.as_ref(),
                ss.scope.as_ref(),
                &service,
            );
            for span in &ss.spans {
                let owner = || format!("span {:?} of {service}", span.name);
                keys.add(&span.attributes, Place::Span, &service, owner);
                for event in &span.events {
                    keys.add(&event.attributes, Place::SpanEvent, &service, || {
                        format!("event {:?} of {}", event.name, owner())
                    });
                }
                for link in &span.links {
                    keys.add(&link.attributes, Place::Link, &service, || {
                        format!("a link of {}", owner())
                    });
                }
            }
        }
    }
    keys
}

/// The keys of a metric export (data points' attributes).
fn keys_of_metrics(export: &ExportMetricsServiceRequest) -> Keys {
    let mut keys = Keys::default();
    for rm in &export.resource_metrics {
        let service = service_name(rm.resource.as_ref());
        for sm in &rm.scope_metrics {
            keys.add_resource_and_scope(
                rm.resource.as_ref(),
                sm.scope.as_ref(),
                &service,
            );
            for metric in &sm.metrics {
                let owner = || format!("metric {:?} of {service}", metric.name);
                let points = point_attributes(metric);
                for attributes in points {
                    keys.add(attributes, Place::DataPoint, &service, owner);
                }
            }
        }
    }
    keys
}

/// The keys of a log export.
fn keys_of_logs(export: &ExportLogsServiceRequest) -> Keys {
    let mut keys = Keys::default();
    for rl in &export.resource_logs {
        let service = service_name(rl.resource.as_ref());
        for sl in &rl.scope_logs {
            keys.add_resource_and_scope(
                rl.resource.as_ref(),
                sl.scope.as_ref(),
                &service,
            );
            for log in &sl.log_records {
                keys.add(&log.attributes, Place::LogRecord, &service, || {
                    let body =
                        log.body.as_ref().map(any_value_json).unwrap_or(Value::Null);
                    format!("a log record of {service} ({body})")
                });
            }
        }
    }
    keys
}

/// The shared, append-only store that receivers write and scenarios read.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<Received>>,
}

impl Store {
    /// A copy of everything received so far.
    pub fn snapshot(&self) -> Received {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Received> {
        // A panic while holding the lock cannot leave a half-written batch: each
        // batch is converted before the lock is taken, so the data stays usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(
        &self,
        request: RequestRecord,
        keys: Keys,
        update: impl FnOnce(&mut Received),
    ) {
        let mut received = self.lock();
        received.requests.push(request);
        for (place, by_key) in keys.0 {
            for (key, seen) in by_key {
                match received.keys.entry((place, key)) {
                    Entry::Occupied(mut kept) => {
                        kept.get_mut().services.extend(seen.services);
                    }
                    Entry::Vacant(new) => {
                        new.insert(seen);
                    }
                }
            }
        }
        update(&mut received);
    }

    /// Stores a trace export and returns the spans it carried.
    pub fn add_traces(
        &self,
        request: RequestRecord,
        export: &ExportTraceServiceRequest,
    ) -> Vec<SpanRecord> {
        let spans = spans_of(export);
        let copy = spans.clone();
        self.append(request, keys_of_traces(export), |r| r.spans.extend(copy));
        spans
    }

    /// Stores spans that arrived in another format than OTLP (Datadog's
    /// native intake, say), converted by the caller.
    pub fn add_spans(&self, request: RequestRecord, spans: Vec<SpanRecord>) {
        // Not OTLP: their keys are the other format's, not the conventions'.
        self.append(request, Keys::default(), |r| r.spans.extend(spans));
    }

    /// Stores a metric export and returns the metrics it carried.
    pub fn add_metrics(
        &self,
        request: RequestRecord,
        export: &ExportMetricsServiceRequest,
    ) -> Vec<MetricRecord> {
        let metrics = metrics_of(export);
        let copy = metrics.clone();
        self.append(request, keys_of_metrics(export), |r| r.metrics.extend(copy));
        metrics
    }

    /// Stores a log export and returns the records it carried.
    pub fn add_logs(
        &self,
        request: RequestRecord,
        export: &ExportLogsServiceRequest,
    ) -> Vec<LogRecord> {
        let logs = logs_of(export);
        let copy = logs.clone();
        self.append(request, keys_of_logs(export), |r| r.logs.extend(copy));
        logs
    }
}

/// The spans of a trace export, one record each.
pub fn spans_of(export: &ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for resource_spans in &export.resource_spans {
        let service_name = service_name(resource_spans.resource.as_ref());
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                let (status, status_message) = match &span.status {
                    Some(s) => (status_name(s.code), s.message.clone()),
                    None => ("unset", String::new()),
                };
                out.push(SpanRecord {
                    service_name: service_name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name.clone(),
                    kind: kind_name(span.kind),
                    status,
                    status_message,
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    events: span.events.iter().map(|e| e.name.clone()).collect(),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                });
            }
        }
    }
    out
}

fn metrics_of(export: &ExportMetricsServiceRequest) -> Vec<MetricRecord> {
    let mut out = Vec::new();
    for resource_metrics in &export.resource_metrics {
        let service_name = service_name(resource_metrics.resource.as_ref());
        for scope_metrics in &resource_metrics.scope_metrics {
            for metric in &scope_metrics.metrics {
                let point_attributes: Vec<Attributes> = point_attributes(metric)
                    .into_iter()
                    .map(attributes)
                    .collect();
                let kind = match &metric.data {
                    Some(Data::Gauge(_)) => "gauge",
                    Some(Data::Sum(_)) => "sum",
                    Some(Data::Histogram(_)) => "histogram",
                    Some(Data::ExponentialHistogram(_)) => "exponential_histogram",
                    Some(Data::Summary(_)) => "summary",
                    None => "empty",
                };
                out.push(MetricRecord {
                    service_name: service_name.clone(),
                    name: metric.name.clone(),
                    unit: metric.unit.clone(),
                    kind,
                    data_points: point_attributes.len(),
                    point_attributes,
                    counts: point_counts(metric),
                });
            }
        }
    }
    out
}

/// The count of each data point of a histogram or summary.
fn point_counts(metric: &Metric) -> Vec<u64> {
    match &metric.data {
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.count).collect(),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| p.count).collect()
        }
        Some(Data::Summary(s)) => s.data_points.iter().map(|p| p.count).collect(),
        _ => Vec::new(),
    }
}

/// The attributes of each data point of a metric, whatever its kind.
fn point_attributes(metric: &Metric) -> Vec<&[KeyValue]> {
    match &metric.data {
        Some(Data::Gauge(g)) => {
            g.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        Some(Data::Sum(s)) => {
            s.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        Some(Data::Histogram(h)) => {
            h.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        Some(Data::Summary(s)) => {
            s.data_points.iter().map(|p| &p.attributes[..]).collect()
        }
        None => Vec::new(),
    }
}

fn logs_of(export: &ExportLogsServiceRequest) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for resource_logs in &export.resource_logs {
        let service_name = service_name(resource_logs.resource.as_ref());
        for scope_logs in &resource_logs.scope_logs {
            for log in &scope_logs.log_records {
                let body = match log.body.as_ref().map(any_value_json) {
                    Some(Value::String(s)) => s,
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                out.push(LogRecord {
                    service_name: service_name.clone(),
                    severity_text: log.severity_text.clone(),
                    severity_number: log.severity_number,
                    body,
                    trace_id: (!log.trace_id.is_empty()).then(|| hex(&log.trace_id)),
                    span_id: (!log.span_id.is_empty()).then(|| hex(&log.span_id)),
                    attributes: attributes(&log.attributes),
                });
            }
        }
    }
    out
}

/// The resource's `service.name`, or `unknown_service` as the specification says.
fn service_name(resource: Option<&Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .map(|v| match any_value_json(v) {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_else(|| "unknown_service".to_owned())
}

/// OTLP attributes as a sorted map of JSON values.
pub fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .map(|kv| {
            let value = kv.value.as_ref().map(any_value_json).unwrap_or(Value::Null);
            (kv.key.clone(), value)
        })
        .collect()
}

fn any_value_json(value: &AnyValue) -> Value {
    use any_value::Value as V;
    match &value.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => Value::from(*d),
        Some(V::BytesValue(b)) => Value::String(hex(b)),
        Some(V::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_value_json).collect())
        }
        Some(V::KvlistValue(kvs)) => {
            Value::Object(attributes(&kvs.values).into_iter().collect())
        }
        // An index into a profiles string table; meaningless outside profiles.
        Some(V::StringValueStrindex(i)) => Value::String(format!("strindex:{i}")),
    }
}

fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        Ok(SpanKind::Unspecified) | Err(_) => "unspecified",
    }
}

fn status_name(code: i32) -> &'static str {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => "ok",
        Ok(StatusCode::Error) => "error",
        Ok(StatusCode::Unset) | Err(_) => "unset",
    }
}

/// Lower-case hex, as trace and span ids are written everywhere else.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
