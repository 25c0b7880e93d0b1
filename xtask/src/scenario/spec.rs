//! The schema of `scenario.toml`: serde types with closed sets as enums and
//! unknown keys refused, so that a typo (`kind = "sever"`) fails at load
//! time with the file, line and key, not later as "0 spans arrived". What
//! serde cannot say (a `[[traffic]]` to a process that does not exist, an
//! unknown `{placeholder}`) is checked by [`load`].

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::otlp::received::Security;
use crate::repo::relative;
use crate::services::Need;

/// A `scenario.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Services the example needs from the machine: `postgres` gives each
    /// run a fresh database, as `{database_url}` in the processes' `env`
    /// (and `DATABASE_URL` to the example's tests).
    #[serde(default)]
    pub needs: Vec<Need>,
    /// The processes, started in order.
    pub process: Vec<Process>,
    /// OTLP protocols to run the scenario with, one run each (the first one
    /// is snapshotted).
    #[serde(default = "default_protocols")]
    pub protocols: Vec<Protocol>,
    /// Collectors to put between the processes and the embedded collector,
    /// one more run each (over the first protocol), with the same
    /// expectations: nothing may be lost on the way.
    #[serde(default)]
    pub through: Vec<Tier>,
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    /// What a user does in a headless Chromium (the scenario must say
    /// `needs = ["browser"]`) or in the desktop app's window, after the
    /// traffic.
    #[serde(default)]
    pub browser: Vec<BrowserStep>,
    /// A throwaway Prometheus that scrapes processes while the scenario
    /// runs (the scenario must say `needs = ["prometheus"]`).
    pub prometheus: Option<PrometheusSetup>,
    pub expect: Expect,
    #[serde(default)]
    pub snapshot: Snapshot,
    /// Services whose telemetry a third-party program makes (an Envoy's
    /// `service_name`): their spans and metrics are expected like any
    /// other, but their names are the program's, not judged against the
    /// semantic conventions.
    #[serde(default)]
    pub third_party: Vec<String>,
    /// Namespaces of attribute keys and metric names the example defines
    /// itself (`"gateway.*"`), or single names (`"app.greeting.size"`):
    /// every other name that arrives must be a semantic convention's.
    #[serde(default)]
    pub own_attributes: Vec<String>,
}

impl Scenario {
    pub fn needs(&self, need: Need) -> bool {
        self.needs.contains(&need)
    }
}

fn default_protocols() -> Vec<Protocol> {
    vec![Protocol::HttpProtobuf]
}

/// An OTLP transport, as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "http/json")]
    HttpJson,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }
}

/// A collector the runner can put in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// rotel, from PyPI.
    Rotel,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Rotel => "rotel",
        }
    }
}

/// The placeholders every scenario may use.
pub const PLACEHOLDERS: &[&str] = &["dir", "target", "otlp_grpc", "otlp_http"];

/// The addresses whose port is a placeholder too (`{otlp_http.port}`).
pub const ADDRESSES: &[&str] = &["otlp_grpc", "otlp_http"];

/// One request, sent in order, after every process is ready.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Process to send to (default: the first).
    pub to: Option<String>,
    #[serde(default)]
    pub method: Method,
    pub path: String,
    /// Expected response status.
    pub status: u16,
    /// Send it this many times.
    #[serde(default = "one")]
    pub repeat: usize,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Wait this long before sending: only for behaviour that is about time
    /// itself, such as a circuit breaker's open period.
    pub pause_ms: Option<u64>,
    /// Freeze the Lambda function it invoked once it has answered
    /// (SIGSTOP), as Lambda does: only what it exported before answering
    /// arrives. It is thawed for its next invocation, and killed at the
    /// end.
    #[serde(default)]
    pub freeze: bool,
    /// Send again, every 100 ms for up to 20 s, until the response has
    /// `status` and, at each JSON pointer given, the value given (`{}`: the
    /// status alone). For outcomes that arrive asynchronously, such as a
    /// controller's status update.
    pub until: Option<BTreeMap<String, toml::Value>>,
}

fn one() -> usize {
    1
}

/// The HTTP methods traffic may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// What Prometheus scrapes: each process named here, as a job of that name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSetup {
    pub scrape: Vec<String>,
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Rule files of the example (alerts, say), loaded by Prometheus: it
    /// refuses to start on a bad one. `ALERTS` then shows their state.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Unit tests of those rules, run with `promtool test rules` before
    /// Prometheus starts.
    #[serde(default)]
    pub rule_tests: Vec<String>,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

/// What must arrive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every span, metric and log must come from these services.
    pub services: Vec<String>,
    #[serde(default)]
    pub span: Vec<SpanExpectation>,
    #[serde(default)]
    pub metric: Vec<MetricExpectation>,
    #[serde(default)]
    pub log: Vec<LogExpectation>,
    /// Queries to Prometheus, checked before the processes stop.
    #[serde(default)]
    pub promql: Vec<PromqlExpectation>,
    /// Export requests that must arrive: what a vendor's endpoint checks.
    #[serde(default)]
    pub request: Vec<RequestExpectation>,
    /// DogStatsD lines the Datadog agent's UDP port must receive (the
    /// scenario must say `needs = ["datadog-agent"]`). Every line received
    /// must also be valid DogStatsD.
    #[serde(default)]
    pub dogstatsd: Vec<DogStatsdExpectation>,
    /// JSON log lines a process must print.
    #[serde(default)]
    pub json_log: Vec<JsonLogExpectation>,
    /// Console lines a process must print (the telemetry module's format).
    #[serde(default)]
    pub console: Vec<ConsoleExpectation>,
}

/// A span kind, as OTLP names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
    Unspecified,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Unspecified => "unspecified",
        }
    }
}

/// A span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// Spans that must arrive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanExpectation {
    pub name: String,
    pub kind: Option<SpanKind>,
    pub status: Option<SpanStatus>,
    /// Name of the parent span (in the same trace); `""` means a root span.
    pub parent: Option<String>,
    pub service: Option<String>,
    /// Attributes that must be present with these values.
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Value>,
    /// Exactly this many matching spans (default: at least one).
    pub count: Option<usize>,
    /// The span's status description (with `status = "error"`).
    pub status_message: Option<String>,
    /// Events (by name) the span must carry, in any order.
    #[serde(default)]
    pub events: Vec<String>,
    /// The span lasted at most this long: for "fails fast" claims.
    pub max_duration_ms: Option<f64>,
    /// The span lasted at least this long: for a stall it records.
    pub min_duration_ms: Option<f64>,
    /// The span links to a span of this name (by trace and span id).
    pub linked_to: Option<String>,
    /// The trace id starts with the time (32 bits of Unix seconds, within
    /// the last hour), as AWS X-Ray requires.
    #[serde(default)]
    pub trace_id_time: bool,
    /// The parent is a span of another process that exports nothing here:
    /// the caller whose context the scenario passed in (a `TRACEPARENT`).
    pub remote_parent: Option<RemoteParent>,
}

/// A span context given by its ids, lower-case hex.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteParent {
    pub trace_id: String,
    pub span_id: String,
}

/// A metric's data kind, as OTLP names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Sum => "sum",
            MetricKind::Histogram => "histogram",
            MetricKind::ExponentialHistogram => "exponential_histogram",
            MetricKind::Summary => "summary",
        }
    }
}

/// A metric that must arrive with at least one data point.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricExpectation {
    pub name: String,
    pub kind: Option<MetricKind>,
    pub unit: Option<String>,
    /// Some data point must carry these attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Value>,
    /// Some data point (with those attributes) aggregates exactly this many
    /// values: a histogram's count, with cumulative temporality the total
    /// so far.
    pub count: Option<u64>,
}

/// A log severity, by the text OpenTelemetry gives it (case does not matter
/// when matching).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// A log record that must arrive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogExpectation {
    /// The body must contain this text.
    pub body: String,
    pub severity: Option<Severity>,
    /// The record must carry the trace and span id of a span with this name.
    pub in_span: Option<String>,
    /// The record must carry these attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Value>,
}

/// An instant PromQL query that must return at least one series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlExpectation {
    pub query: String,
    /// The values of the series returned add up to this.
    pub value: Option<f64>,
    /// Every series returned has these labels with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// An OTLP signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// How an export request's body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    /// Not compressed.
    None,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

/// At least one export request with all of these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestExpectation {
    pub signal: Signal,
    pub transport: Option<Protocol>,
    pub compression: Option<Compression>,
    /// Headers (names lowercase) with exactly these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Through which of the collector's listeners: `plaintext`, `tls` or
    /// `mtls` (the last two need `needs = ["tls"]`).
    pub security: Option<Security>,
}

/// A DogStatsD metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DogStatsdType {
    #[serde(rename = "c")]
    Count,
    #[serde(rename = "g")]
    Gauge,
    #[serde(rename = "ms")]
    Timing,
    #[serde(rename = "h")]
    Histogram,
    #[serde(rename = "s")]
    Set,
    #[serde(rename = "d")]
    Distribution,
}

impl DogStatsdType {
    /// As written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            DogStatsdType::Count => "c",
            DogStatsdType::Gauge => "g",
            DogStatsdType::Timing => "ms",
            DogStatsdType::Histogram => "h",
            DogStatsdType::Set => "s",
            DogStatsdType::Distribution => "d",
        }
    }
}

/// At least one DogStatsD line with all of these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DogStatsdExpectation {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: DogStatsdType,
    /// Tags (`key:value`) the line carries, among others.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// One of the line's values.
    pub value: Option<f64>,
}

/// At least one line of a process's output that is a JSON object with all of
/// these fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonLogExpectation {
    /// The `[[process]]` that prints it.
    pub process: String,
    #[serde(default)]
    pub fields: BTreeMap<String, toml::Value>,
    /// Its ids name a span that arrived: `trace_id` and `span_id` in the
    /// W3C form, or `dd.trace_id` and `dd.span_id` (Datadog's decimal form
    /// of the lower 64 bits).
    #[serde(default)]
    pub correlated: bool,
}

/// A console line a process must print.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleExpectation {
    /// The `[[process]]` that prints it.
    pub process: String,
    /// Text the line contains: its message, say.
    pub contains: String,
    /// Its `trace_id=` and `span_id=` (W3C hex) name a span that arrived.
    #[serde(default)]
    pub correlated: bool,
}

/// What the committed snapshot shows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Attributes printed in the tree (values must be stable from run to run).
    #[serde(default)]
    pub attributes: Vec<String>,
    /// Only the traces whose root span has one of these names (default: all).
    #[serde(default)]
    pub roots: Vec<String>,
    /// Each distinct trace once, sorted, without counts: for runs in which
    /// how often, and in what order, identical traces happen is up to timing
    /// (a controller's no-op reconciles).
    #[serde(default)]
    pub distinct: bool,
    /// Some sibling spans run concurrently (a mirrored request beside the
    /// real one): which ends first varies from run to run, so the
    /// waterfall is compared by its rows and labels, not its bars.
    #[serde(default)]
    pub concurrent: bool,
}

/// Reads and checks a `scenario.toml`; errors name the file (and, for
/// schema errors, the line and key).
pub fn load(path: &Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", relative(path)))?;
    let scenario = parse(&text)
        .with_context(|| format!("{} is not a valid scenario", relative(path)))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    placeholders::check_envoy_configs(&scenario, dir)
        .with_context(|| format!("{} is not a valid scenario", relative(path)))?;
    Ok(scenario)
}

/// Parses and checks a scenario's text.
pub fn parse(text: &str) -> Result<Scenario> {
    let scenario: Scenario = toml::from_str(text)?;
    check(&scenario)?;
    Ok(scenario)
}

/// What the types cannot say.
fn check(scenario: &Scenario) -> Result<()> {
    if scenario.process.is_empty() {
        bail!("a scenario needs at least one [[process]]");
    }
    for e in &scenario.expect.span {
        if let Some(remote) = &e.remote_parent {
            let hex = |s: &str, n: usize| {
                s.len() == n && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
            };
            if !hex(&remote.trace_id, 32) || !hex(&remote.span_id, 16) {
                bail!(
                    "[[expect.span]] {:?}: remote_parent needs a trace_id of 32 and a \
                     span_id of 16 lower-case hex digits",
                    e.name
                );
            }
            if e.parent.is_some() {
                bail!(
                    "[[expect.span]] {:?}: give parent or remote_parent, not both",
                    e.name
                );
            }
        }
    }
    for pattern in &scenario.own_attributes {
        let name = pattern.strip_suffix(".*").unwrap_or(pattern);
        if name.is_empty() || name.contains('*') {
            bail!(
                "own_attributes: {pattern:?} is neither a namespace (\"app.*\") nor a name \
                 (\"app.greeting.size\")"
            );
        }
    }
    // Traffic, pages, scrapes, log lines and `{name.url}` need a server: a
    // job has exited by then and has no address.
    let process = |name: &str| {
        scenario
            .process
            .iter()
            .any(|p| p.name == name && p.serves())
    };
    for p in scenario.process.iter().filter(|p| p.is_envoy()) {
        if !scenario.needs(Need::Envoy) {
            bail!(
                "[[process]] {:?} is an Envoy: it needs `needs = [\"envoy\"]`",
                p.name
            );
        }
    }
    placeholders::check_env(scenario)?;
    let envoy = |name: &str| {
        scenario
            .process
            .iter()
            .any(|p| p.name == name && p.is_envoy())
    };
    for t in &scenario.traffic {
        if let Some(to) = &t.to
            && !process(to)
            && !to.strip_suffix(".admin").is_some_and(envoy)
        {
            bail!(
                "[[traffic]] to {to:?}, but no serving [[process]] has that name (an \
                 Envoy's admin interface is \"NAME.admin\")"
            );
        }
    }
    for name in &scenario.third_party {
        if !scenario.expect.services.contains(name) {
            bail!("third_party names {name:?}, which expect.services does not list");
        }
    }
    let functions = scenario
        .process
        .iter()
        .any(|p| matches!(p.kind, Kind::Function { .. }));
    for traffic in scenario.traffic.iter().filter(|t| t.freeze) {
        let to = traffic.to.as_deref();
        let target = match to {
            None => scenario.process.first(),
            Some(name) => scenario.process.iter().find(|p| p.name == name),
        };
        if !target.is_some_and(|p| matches!(p.kind, Kind::Function { .. })) {
            bail!(
                "[[traffic]] to {:?}: `freeze` is for a Lambda function (`lambda = true`)",
                to.unwrap_or("the first process")
            );
        }
    }
    if functions != scenario.needs(Need::Lambda) {
        bail!(
            "a [[process]] with `lambda = true` and `needs = [\"lambda\"]` go together"
        );
    }
    let desktops: Vec<&Process> =
        scenario.process.iter().filter(|p| p.is_desktop()).collect();
    if desktops.is_empty() == scenario.needs(Need::Desktop) {
        bail!(
            "a [[process]] with `desktop = true` and `needs = [\"desktop\"]` go together"
        );
    }
    if let [app, ..] = desktops[..] {
        if desktops.len() > 1 {
            bail!("[[process]] {:?}: one desktop app per scenario", app.name);
        }
        if scenario.needs(Need::Browser) {
            bail!("[[browser]] steps drive the desktop app or Chromium, not both");
        }
    }
    let driven = scenario.needs(Need::Browser) || scenario.needs(Need::Desktop);
    if !scenario.browser.is_empty() && !driven {
        bail!("[[browser]] steps need `needs = [\"browser\"]` (or a desktop app)");
    }
    for (i, step) in scenario.browser.iter().enumerate() {
        let is_open = matches!(step, BrowserStep::Open { .. });
        let is_shot = matches!(step, BrowserStep::Screenshot { .. });
        if (is_open && !desktops.is_empty()) || (is_shot && desktops.is_empty()) {
            bail!(
                "[[browser]] step {}: `open` is for pages, `screenshot` for a desktop app",
                i + 1
            );
        }
        if let BrowserStep::Open { to: Some(to), .. } = step
            && !process(to)
        {
            bail!(
                "[[browser]] step {} opens a page of {to:?}, but no serving [[process]] has that name",
                i + 1
            );
        }
    }
    if scenario.prometheus.is_some() != scenario.needs(Need::Prometheus) {
        bail!("[prometheus] and `needs = [\"prometheus\"]` go together");
    }
    if !scenario.expect.promql.is_empty() && scenario.prometheus.is_none() {
        bail!("[[expect.promql]] needs a [prometheus] section");
    }
    for name in scenario.prometheus.iter().flat_map(|p| &p.scrape) {
        if !process(name) {
            bail!(
                "[prometheus] scrapes {name:?}, but no serving [[process]] has that name"
            );
        }
    }
    let secured = scenario
        .expect
        .request
        .iter()
        .any(|e| e.security.is_some_and(|s| s != Security::Plaintext));
    if secured && !scenario.needs(Need::Tls) {
        bail!(
            "[[expect.request]] with `security = \"tls\"` or `\"mtls\"` needs `needs = [\"tls\"]`"
        );
    }
    if scenario.needs(Need::Tls) && !scenario.through.is_empty() {
        bail!(
            "`needs = [\"tls\"]` and `through` do not go together: the TLS \
             listeners are the embedded collector's, so a process sent to them \
             would pass the tier by"
        );
    }
    if !scenario.expect.dogstatsd.is_empty() && !scenario.needs(Need::DatadogAgent) {
        bail!("[[expect.dogstatsd]] needs `needs = [\"datadog-agent\"]`");
    }
    let reads = scenario
        .expect
        .json_log
        .iter()
        .map(|e| ("json_log", &e.process));
    let reads = reads.chain(
        scenario
            .expect
            .console
            .iter()
            .map(|e| ("console", &e.process)),
    );
    let prints = |name: &str| {
        scenario.process.iter().any(|p| {
            p.name == name
                && matches!(p.kind, Kind::Server { .. } | Kind::Job { .. })
        })
    };
    for (kind, name) in reads {
        if !prints(name) {
            bail!(
                "[[expect.{kind}]] reads process {name:?}, but no server or job \
                 [[process]] has that name"
            );
        }
    }
    Ok(())
}

mod browser;
pub mod cases;
mod placeholders;
mod process;
pub use browser::BrowserStep;
#[cfg(test)]
use placeholders::placeholders;
pub use process::{Kind, Process};

#[cfg(test)]
mod tests;
