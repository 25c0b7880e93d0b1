//! Datadog's APM test agent (`ddapm-test-agent`, PyPI, pinned) as the
//! Datadog Agent of a scenario (`needs = ["datadog-agent"]`), with a UDP
//! socket as its DogStatsD port.
//!
//! After a run, the runner reads back what the agent received: the OTLP
//! requests are replayed, byte for byte, into the embedded collector, and the
//! native traces (`/v0.5/traces`) become spans of the same store. The
//! scenario's expectations, snapshot and waterfall then describe what reached
//! the Datadog receiver, not what left the services.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::otlp::collector::Collector;
use crate::otlp::received::{RequestRecord, SpanRecord, Store};
use crate::proc::{self, Attempt, Running, Signal};
use crate::tools::PythonTool;

/// The pinned release.
const TEST_AGENT: PythonTool = PythonTool {
    name: "ddagent",
    requirements: &["ddapm-test-agent==1.69.1"],
};

/// The placeholders a run with the agent fills: its native trace intake,
/// its OTLP receiver for the run's protocol, and the DogStatsD `HOST:PORT`.
pub const PLACEHOLDERS: &[&str] = &["dd_trace_agent", "dd_otlp", "dogstatsd"];

/// What to install, when this machine cannot install the test agent.
pub fn missing() -> Option<String> {
    PythonTool::missing()
}

/// The `ddapm-test-agent` program, installed into `target/tools/ddagent` once.
pub fn program() -> Result<PathBuf> {
    TEST_AGENT.program("ddapm-test-agent")
}

/// A running test agent and DogStatsD listener.
pub struct DdAgent {
    process: Running,
    /// The native trace intake: `DD_TRACE_AGENT_URL`.
    pub trace_url: String,
    otlp_http: String,
    otlp_grpc: String,
    /// `HOST:PORT` of the DogStatsD listener.
    pub dogstatsd: String,
    datagrams: Arc<Mutex<Vec<String>>>,
    listener: tokio::task::JoinHandle<()>,
}

impl DdAgent {
    pub async fn start() -> Result<DdAgent> {
        let program = program()?;
        let (trace, http, grpc) =
            (proc::free_port()?, proc::free_port()?, proc::free_port()?);
        let mut process = Running::spawn(
            "ddapm-test-agent",
            Command::new(&program)
                .args(["--host", "127.0.0.1", "-p", &trace.to_string()])
                .args(["--otlp-http-port", &http.to_string()])
                .args(["--otlp-grpc-port", &grpc.to_string()]),
        )?;
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let dogstatsd = socket.local_addr()?.to_string();
        let datagrams = Arc::new(Mutex::new(Vec::new()));
        let sink = datagrams.clone();
        let listener = tokio::spawn(async move {
            let mut buffer = vec![0u8; 65_535];
            while let Ok(n) = socket.recv(&mut buffer).await {
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(text);
            }
        });
        let trace_url = format!("http://127.0.0.1:{trace}");
        // Ready when `/info` answers and both OTLP ports accept connections.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let info = format!("{trace_url}/info");
        process
            .wait_until(Duration::from_secs(30), || async {
                proc::answers(&client, &info).await
                    && proc::listening(http)
                    && proc::listening(grpc)
            })
            .await
            .context("ddapm-test-agent did not answer on /info")?;
        Ok(DdAgent {
            process,
            trace_url,
            otlp_http: format!("http://127.0.0.1:{http}"),
            otlp_grpc: format!("http://127.0.0.1:{grpc}"),
            dogstatsd,
            datagrams,
            listener,
        })
    }

    /// The values of [`PLACEHOLDERS`], in order, for a run over `protocol`.
    pub fn placeholders(&self, protocol: &str) -> Vec<(&'static str, String)> {
        let otlp = if protocol == "grpc" {
            &self.otlp_grpc
        } else {
            &self.otlp_http
        };
        PLACEHOLDERS
            .iter()
            .copied()
            .zip([self.trace_url.clone(), otlp.clone(), self.dogstatsd.clone()])
            .collect()
    }

    /// Every DogStatsD datagram received so far.
    pub fn datagrams(&self) -> Vec<String> {
        self.datagrams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Copies what the agent received into the collector: OTLP requests are
    /// posted to `collector_http` as they arrived, native spans are added to
    /// `store`. Waits first until the agent's count of requests holds still.
    pub async fn copy_into(
        &self,
        collector_http: &str,
        store: &Store,
    ) -> Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let requests_url = format!("{}/test/session/requests", self.otlp_http);
        let last = Mutex::new(None::<Vec<RecordedRequest>>);
        let settled = proc::poll_until(
            Duration::from_secs(10),
            Duration::from_millis(300),
            || async {
                let body = client
                    .get(&requests_url)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                let requests: Vec<RecordedRequest> = serde_json::from_slice(&body)
                    .context("the test agent's /test/session/requests is not the expected JSON")?;
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.as_ref().is_some_and(|l| l.len() == requests.len()) {
                    return Ok(Attempt::Done(requests));
                }
                *last = Some(requests);
                Ok(Attempt::NotYet("the count of requests still moves".into()))
            },
        )
        .await;
        // Still moving after 10 s: take what is there.
        let requests = match settled {
            Ok(requests) => requests,
            Err(e) if e.is::<proc::TimedOut>() => last
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default(),
            Err(e) => return Err(e),
        };
        for request in requests {
            let Some(path) = otlp_path(&request.url) else {
                continue;
            };
            let body = base64::engine::general_purpose::STANDARD
                .decode(&request.body)
                .context("a recorded request body is not base64")?;
            let mut post = client.post(format!("{collector_http}{path}")).body(body);
            for (name, value) in &request.headers {
                let lower = name.to_ascii_lowercase();
                if lower != "host" && lower != "content-length" {
                    post = post.header(name, value);
                }
            }
            post.send()
                .await?
                .error_for_status()
                .with_context(|| format!("replaying {path} into the collector"))?;
        }

        let body = client
            .get(format!("{}/test/session/traces", self.trace_url))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let traces: Vec<Vec<NativeSpan>> = serde_json::from_slice(&body).context(
            "the test agent's /test/session/traces is not the expected JSON",
        )?;
        let known = store.snapshot().spans;
        let spans = traces
            .into_iter()
            .flatten()
            .map(|span| span.into_record(&known))
            .collect::<Vec<_>>();
        if !spans.is_empty() {
            let request = RequestRecord {
                signal: "traces",
                transport: "datadog/v0.5",
                compression: None,
                headers: BTreeMap::new(),
                security: Default::default(),
            };
            store.add_spans(request, spans);
        }
        Ok(())
    }

    pub async fn stop(self) {
        self.listener.abort();
        self.process
            .end(Signal::Terminate, Duration::from_secs(5))
            .await;
    }
}

/// One request as `/test/session/requests` lists it.
#[derive(Deserialize)]
struct RecordedRequest {
    url: String,
    headers: BTreeMap<String, String>,
    /// Base64 of the body as it arrived (compressed, if it was).
    body: String,
}

/// `/v1/traces`, `/v1/metrics` or `/v1/logs`, if `url` is an OTLP request.
fn otlp_path(url: &str) -> Option<&'static str> {
    ["/v1/traces", "/v1/metrics", "/v1/logs"]
        .into_iter()
        .find(|path| url.ends_with(path))
}

// ANCHOR: native
/// A span of Datadog's native format, as the test agent decoded it.
#[derive(Debug, Deserialize)]
pub struct NativeSpan {
    pub service: String,
    /// The operation name (`opentelemetry-datadog`: the instrumentation scope).
    pub name: String,
    /// What the span did (`opentelemetry-datadog`: the span's own name).
    pub resource: String,
    pub trace_id: u64,
    pub span_id: u64,
    #[serde(default)]
    pub parent_id: u64,
    pub start: u64,
    pub duration: u64,
    #[serde(default)]
    pub error: i64,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

impl NativeSpan {
    /// As a span record: named by its resource, with `meta` and `metrics` as
    /// attributes and the operation name as `datadog.operation`.
    ///
    /// Datadog's trace id is 64 bits; the upper 64 of a 128-bit OpenTelemetry
    /// id travel in `_dd.p.tid`. A span without it is joined to the trace
    /// whose lower 64 bits match, as Datadog's backend does, and carries
    /// `datadog.trace_id.bits = 64`.
    pub fn into_record(self, known: &[SpanRecord]) -> SpanRecord {
        let low = format!("{:016x}", self.trace_id);
        let mut attributes: BTreeMap<String, Value> = self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        for (key, value) in &self.metrics {
            attributes.insert(key.clone(), Value::from(*value));
        }
        attributes.insert("datadog.operation".into(), self.name.clone().into());
        let trace_id = match self.meta.get("_dd.p.tid") {
            Some(high) => format!("{high:0>16}{low}"),
            None => {
                attributes.insert("datadog.trace_id.bits".into(), 64.into());
                known
                    .iter()
                    .find(|s| s.trace_id.len() == 32 && s.trace_id.ends_with(&low))
                    .map_or_else(
                        || format!("{:016x}{low}", 0),
                        |s| s.trace_id.clone(),
                    )
            }
        };
        SpanRecord {
            service_name: self.service,
            trace_id,
            span_id: format!("{:016x}", self.span_id),
            parent_span_id: (self.parent_id != 0)
                .then(|| format!("{:016x}", self.parent_id)),
            name: self.resource,
            // The native format has no span kind.
            kind: "unspecified",
            status: if self.error != 0 { "error" } else { "unset" },
            status_message: String::new(),
            start_unix_nano: self.start,
            end_unix_nano: self.start + self.duration,
            attributes,
            events: Vec::new(),
            links: Vec::new(),
        }
    }
}
// ANCHOR_END: native

/// One DogStatsD metric line: `name:value[:value...]|type[|@rate][|#tags]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datagram {
    pub name: String,
    pub values: Vec<f64>,
    pub kind: String,
    pub rate: Option<f64>,
    /// `key:value` tags split at the first `:`; a bare tag has an empty value.
    pub tags: BTreeMap<String, String>,
}

/// Parses one line of a DogStatsD datagram, or says what is wrong with it.
pub fn parse_datagram(line: &str) -> Result<Datagram, String> {
    let mut sections = line.split('|');
    let head = sections.next().unwrap_or_default();
    let (name, values) = head
        .split_once(':')
        .ok_or_else(|| format!("{line:?}: no `name:value`"))?;
    let name_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !name_ok {
        return Err(format!(
            "{line:?}: metric name {name:?} must start with a letter and hold only letters, digits, '_' and '.'"
        ));
    }
    let values = values
        .split(':')
        .map(|v| {
            v.parse::<f64>()
                .map_err(|_| format!("{line:?}: value {v:?} is not a number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kind = sections
        .next()
        .ok_or_else(|| format!("{line:?}: no `|type`"))?
        .to_owned();
    if !["c", "g", "ms", "h", "s", "d"].contains(&kind.as_str()) {
        return Err(format!(
            "{line:?}: type {kind:?} is not one of c, g, ms, h, s, d"
        ));
    }
    let mut datagram = Datagram {
        name: name.to_owned(),
        values,
        kind,
        rate: None,
        tags: BTreeMap::new(),
    };
    for section in sections {
        if let Some(rate) = section.strip_prefix('@') {
            let rate = rate
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("{line:?}: sample rate {rate:?} is not in 0..=1")
                })?;
            datagram.rate = Some(rate);
        } else if let Some(tags) = section.strip_prefix('#') {
            for tag in tags.split(',') {
                if tag.is_empty() {
                    return Err(format!("{line:?}: an empty tag"));
                }
                let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
                datagram.tags.insert(key.to_owned(), value.to_owned());
            }
        } else if section.starts_with("c:") || section.starts_with('T') {
            // Container id and timestamp: valid, not asserted.
        } else {
            return Err(format!("{line:?}: unknown section {section:?}"));
        }
    }
    Ok(datagram)
}

impl Service for DdAgent {
    fn stops(&self) -> Stops {
        Stops::AfterReading
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin((*self).stop())
    }

    fn read_back<'a>(
        &'a self,
        collector: &'a Collector,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>>> + Send + 'a>> {
        Box::pin(async move {
            self.copy_into(&collector.http_endpoint(), &collector.store)
                .await
                .context("reading back what the Datadog test agent received")?;
            Ok(self.datagrams())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_count_and_a_distribution_parse() {
        let d =
            parse_datagram("checkout.orders:1|c|#service:checkout,env:ci,sku:tea")
                .unwrap();
        assert_eq!(d.name, "checkout.orders");
        assert_eq!(d.values, vec![1.0]);
        assert_eq!(d.kind, "c");
        assert_eq!(d.tags["env"], "ci");
        let d = parse_datagram("checkout.order.value:900|d|@0.5|#sku:tea|c:abc")
            .unwrap();
        assert_eq!(d.kind, "d");
        assert_eq!(d.rate, Some(0.5));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        for (line, wanted) in [
            ("orders|c", "no `name:value`"),
            ("9orders:1|c", "must start with a letter"),
            ("orders:x|c", "not a number"),
            ("orders:1", "no `|type`"),
            ("orders:1|q", "not one of"),
            ("orders:1|c|@2", "not in 0..=1"),
            ("orders:1|c|#a,,b", "empty tag"),
            ("orders:1|c|zzz", "unknown section"),
        ] {
            let error = parse_datagram(line).unwrap_err();
            assert!(error.contains(wanted), "{line}: {error}");
        }
    }

    /// A response of `/test/session/traces`, recorded from ddapm-test-agent
    /// 1.69.1 after the Datadog example's pricing service answered one call.
    const RECORDED: &str = r#"[[{"service": "pricing", "name": "pricing", "resource": "quote", "trace_id": 6903354652330607524, "span_id": 13746640103124752219, "parent_id": 1348080177103702847, "start": 1795683625923040023, "duration": 24566, "error": 0, "meta": {"service": "pricing", "env": "ci", "version": "1.4.2", "pricing.sku": "tea", "pricing.cents": "450"}, "metrics": {"_sampling_priority_v1": 1.0, "_dd.measured": 0.0}, "type": ""}, {"service": "pricing", "name": "pricing", "resource": "GET /price/{sku}", "trace_id": 6903354652330607524, "span_id": 1348080177103702847, "parent_id": 470519285103504901, "start": 1795683625923030399, "duration": 49453, "error": 0, "meta": {"service": "pricing", "env": "ci", "version": "1.4.2", "http.request.method": "GET", "http.route": "/price/{sku}", "http.response.status_code": "200"}, "metrics": {"_sampling_priority_v1": 1.0, "_dd.measured": 0.0}, "type": ""}]]"#;

    #[test]
    fn recorded_native_spans_join_the_otlp_trace_on_the_lower_64_bits() {
        let traces: Vec<Vec<NativeSpan>> = serde_json::from_str(RECORDED).unwrap();
        let otlp_trace = format!("dc562f6846eb7654{:016x}", 6903354652330607524_u64);
        let client = SpanRecord {
            service_name: "checkout".into(),
            trace_id: otlp_trace.clone(),
            kind: "client",
            ..SpanRecord::test(
                "GET",
                &format!("{:016x}", 470519285103504901_u64),
                None,
            )
        };
        let spans: Vec<SpanRecord> = traces
            .into_iter()
            .flatten()
            .map(|s| s.into_record(std::slice::from_ref(&client)))
            .collect();
        let server = spans.iter().find(|s| s.name == "GET /price/{sku}").unwrap();
        assert_eq!(server.trace_id, otlp_trace);
        assert_eq!(
            server.parent_span_id.as_deref(),
            Some(client.span_id.as_str())
        );
        assert_eq!(server.attributes["env"], "ci");
        assert_eq!(server.attributes["datadog.operation"], "pricing");
        assert_eq!(server.attributes["datadog.trace_id.bits"], 64);
        let quote = spans.iter().find(|s| s.name == "quote").unwrap();
        assert_eq!(
            quote.parent_span_id.as_deref(),
            Some(server.span_id.as_str())
        );
        assert_eq!(quote.end_unix_nano - quote.start_unix_nano, 24_566);
        // Without an OTLP span to join, the upper half stays zero.
        let alone: Vec<Vec<NativeSpan>> = serde_json::from_str(RECORDED).unwrap();
        let record = alone.into_iter().flatten().next().unwrap().into_record(&[]);
        assert!(
            record.trace_id.starts_with("0000000000000000"),
            "{}",
            record.trace_id
        );
    }

    #[test]
    fn only_otlp_requests_are_replayed() {
        assert_eq!(
            otlp_path("http://127.0.0.1:1/v1/traces"),
            Some("/v1/traces")
        );
        assert_eq!(otlp_path("http://127.0.0.1:1/v1/logs"), Some("/v1/logs"));
        assert_eq!(otlp_path("http://127.0.0.1:1/v0.5/traces"), None);
    }
}
