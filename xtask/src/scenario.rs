//! Scenarios: each example's `scenario.toml` says how to start it, what
//! traffic to drive and what telemetry must arrive. The runner starts the
//! embedded collector, the example's processes, drives the traffic, stops the
//! processes with SIGTERM and polls the collector until every expectation
//! holds or the deadline passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::collector::Collector;
use crate::received::{Attributes, Received, SpanRecord};
use crate::tree::{AttributeFilter, Style, group_traces, render_trace};

/// How long a process may take to print its `listening on` line.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a process may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(20);
/// How long telemetry may take to arrive after the processes exited.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(15);
/// Columns of a snapshot line: the book shows it without horizontal scrolling.
const SNAPSHOT_WIDTH: usize = 80;
/// The line a service prints when it is ready.
const READY_PREFIX: &str = "listening on ";

/// A `scenario.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Services the example needs from the machine: `postgres` gives each
    /// run a fresh database, as `{database_url}` in the processes' `env`
    /// (and `DATABASE_URL` to the example's tests).
    #[serde(default)]
    pub needs: Vec<String>,
    /// The processes, started in order.
    pub process: Vec<Process>,
    /// OTLP protocols to run the scenario with, one run each (first one is snapshotted).
    #[serde(default = "default_protocols")]
    pub protocols: Vec<String>,
    /// Collectors to put between the processes and the embedded collector,
    /// one more run each (over the first protocol), with the same
    /// expectations: nothing may be lost on the way. `rotel` is the one.
    #[serde(default)]
    pub through: Vec<String>,
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    /// What a user does in a headless Chromium, after the traffic (the
    /// scenario must say `needs = ["browser"]`).
    #[serde(default)]
    pub browser: Vec<BrowserStep>,
    /// A throwaway Prometheus that scrapes processes while the scenario
    /// runs (the scenario must say `needs = ["prometheus"]`).
    pub prometheus: Option<PrometheusSetup>,
    pub expect: Expect,
    #[serde(default)]
    pub snapshot: Snapshot,
}

fn default_protocols() -> Vec<String> {
    vec!["http/protobuf".to_owned()]
}

/// One process of the example.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Name used in messages and in `{name.url}` references.
    pub name: String,
    /// The binary (a `[[bin]]` of the example's package).
    pub bin: String,
    /// Extra variables; `{other.url}` is replaced by an earlier process's
    /// address, `{dir}` by the example's directory.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A job, not a server: it runs to completion (and must succeed) before
    /// the next process starts; no `listening on` line is awaited.
    #[serde(default)]
    pub until_exit: bool,
}

/// One request, sent in order, after every process is ready.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Process to send to (default: the first).
    pub to: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
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
    /// Send again, every 100 ms for up to 20 s, until the response has
    /// `status` and, at each JSON pointer given, the value given (`{}`: the
    /// status alone). For outcomes that arrive asynchronously, such as a
    /// controller's status update.
    pub until: Option<BTreeMap<String, toml::Value>>,
}

/// How long a `until` request may be repeated.
const UNTIL_DEADLINE: Duration = Duration::from_secs(20);

/// One thing a user does in the browser. Exactly one of `open`, `fill`,
/// `click` and `wait_for`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserStep {
    /// Load this path of a process (`to`, default the first).
    pub open: Option<String>,
    pub to: Option<String>,
    /// Type `text` into the element this CSS selector picks.
    pub fill: Option<String>,
    /// Click the element this CSS selector picks.
    pub click: Option<String>,
    /// Wait until the element this CSS selector picks shows `text`.
    pub wait_for: Option<String>,
    pub text: Option<String>,
}

/// What Prometheus scrapes: each process named here, as a job of that name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSetup {
    pub scrape: Vec<String>,
    #[serde(default = "default_metrics_path")]
    pub path: String,
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

/// How long PromQL expectations may take to hold (scrapes every second).
const PROMQL_DEADLINE: Duration = Duration::from_secs(20);

/// How long a `wait_for` step may wait.
const BROWSER_WAIT: Duration = Duration::from_secs(20);

fn default_method() -> String {
    "GET".to_owned()
}

fn one() -> usize {
    1
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
}

/// At least one DogStatsD line with all of these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DogStatsdExpectation {
    pub name: String,
    /// `c`, `g`, `ms`, `h`, `s` or `d`.
    #[serde(rename = "type")]
    pub kind: String,
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
    /// Its `dd.trace_id` and `dd.span_id` (Datadog's decimal form of the
    /// lower 64 bits) name a span that arrived.
    #[serde(default)]
    pub correlated: bool,
}

/// At least one export request with all of these.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestExpectation {
    /// `traces`, `metrics` or `logs`.
    pub signal: String,
    /// `grpc`, `http/protobuf` or `http/json`.
    pub transport: Option<String>,
    /// `gzip`, or `"none"` for an uncompressed body.
    pub compression: Option<String>,
    /// Headers (names lowercase) with exactly these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
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

/// Spans that must arrive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanExpectation {
    pub name: String,
    pub kind: Option<String>,
    /// `unset`, `ok` or `error`.
    pub status: Option<String>,
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
    /// The span links to a span of this name (by trace and span id).
    pub linked_to: Option<String>,
    /// The trace id starts with the time (32 bits of Unix seconds, within
    /// the last hour), as AWS X-Ray requires.
    #[serde(default)]
    pub trace_id_time: bool,
}

/// A metric that must arrive with at least one data point.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricExpectation {
    pub name: String,
    pub kind: Option<String>,
    pub unit: Option<String>,
    /// Some data point must carry these attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Value>,
}

/// A log record that must arrive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogExpectation {
    /// The body must contain this text.
    pub body: String,
    pub severity: Option<String>,
    /// The record must carry the trace and span id of a span with this name.
    pub in_span: Option<String>,
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
}

impl Snapshot {
    /// The spans the snapshot and the waterfall show: with `roots`, those of
    /// the traces whose root is named in it.
    pub fn spans<'a>(&self, received: &'a Received) -> Vec<&'a SpanRecord> {
        if self.roots.is_empty() {
            return received.spans.iter().collect();
        }
        group_traces(&received.spans)
            .into_iter()
            .filter(|trace| {
                let ids: std::collections::HashSet<&str> =
                    trace.iter().map(|s| s.span_id.as_str()).collect();
                trace.iter().any(|s| {
                    let is_root =
                        s.parent_span_id.as_deref().is_none_or(|p| !ids.contains(p));
                    is_root && self.roots.contains(&s.name)
                })
            })
            .flatten()
            .collect()
    }
}

/// An example with a scenario.
pub struct Example {
    pub slug: String,
    pub dir: PathBuf,
    pub package: String,
}

impl Example {
    pub fn scenario_path(&self) -> PathBuf {
        self.dir.join("scenario.toml")
    }
}

/// Reads and checks a `scenario.toml`; errors name the file.
pub fn load(path: &Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let scenario: Scenario = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid scenario", path.display()))?;
    if scenario.process.is_empty() {
        bail!(
            "{}: a scenario needs at least one [[process]]",
            path.display()
        );
    }
    for p in &scenario.protocols {
        if !["grpc", "http/protobuf", "http/json"].contains(&p.as_str()) {
            bail!(
                "{}: protocol {p:?} is not grpc, http/protobuf or http/json",
                path.display()
            );
        }
    }
    check_browser_steps(&scenario)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    check_prometheus(&scenario)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    check_datadog_setup(&scenario)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for t in &scenario.traffic {
        if let Some(to) = &t.to
            && !scenario.process.iter().any(|p| &p.name == to)
        {
            bail!(
                "{}: traffic to {to:?}, but no [[process]] has that name",
                path.display()
            );
        }
    }
    Ok(scenario)
}

/// What `needs` may name.
pub const NEEDS: &[&str] = &["browser", "datadog-agent", "postgres", "prometheus"];

fn check_datadog_setup(scenario: &Scenario) -> Result<()> {
    for need in &scenario.needs {
        if !NEEDS.contains(&need.as_str()) {
            bail!("needs = [{need:?}]: not one of {NEEDS:?}");
        }
    }
    let agent = scenario.needs.iter().any(|n| n == "datadog-agent");
    if !scenario.expect.dogstatsd.is_empty() && !agent {
        bail!("[[expect.dogstatsd]] needs `needs = [\"datadog-agent\"]`");
    }
    for e in &scenario.expect.json_log {
        if !scenario.process.iter().any(|p| p.name == e.process) {
            bail!(
                "[[expect.json_log]] reads process {:?}, but no [[process]] has that name",
                e.process
            );
        }
    }
    Ok(())
}

fn check_prometheus(scenario: &Scenario) -> Result<()> {
    let needs = scenario.needs.iter().any(|n| n == "prometheus");
    if scenario.prometheus.is_some() != needs {
        bail!("[prometheus] and `needs = [\"prometheus\"]` go together");
    }
    if !scenario.expect.promql.is_empty() && scenario.prometheus.is_none() {
        bail!("[[expect.promql]] needs a [prometheus] section");
    }
    for name in scenario.prometheus.iter().flat_map(|p| &p.scrape) {
        if !scenario.process.iter().any(|p| &p.name == name) {
            bail!("[prometheus] scrapes {name:?}, but no [[process]] has that name");
        }
    }
    Ok(())
}

fn check_browser_steps(scenario: &Scenario) -> Result<()> {
    if !scenario.browser.is_empty() && !scenario.needs.iter().any(|n| n == "browser")
    {
        bail!("[[browser]] steps need `needs = [\"browser\"]`");
    }
    for (i, step) in scenario.browser.iter().enumerate() {
        let n = i + 1;
        let actions = [&step.open, &step.fill, &step.click, &step.wait_for]
            .iter()
            .filter(|a| a.is_some())
            .count();
        if actions != 1 {
            bail!(
                "[[browser]] step {n} must have exactly one of open, fill, click, wait_for"
            );
        }
        if (step.fill.is_some() || step.wait_for.is_some()) != step.text.is_some() {
            bail!(
                "[[browser]] step {n}: `text` goes with `fill` and `wait_for`, and only with them"
            );
        }
        if step.to.is_some() && step.open.is_none() {
            bail!("[[browser]] step {n}: `to` goes with `open` only");
        }
        if let Some(to) = &step.to
            && !scenario.process.iter().any(|p| &p.name == to)
        {
            bail!(
                "[[browser]] step {n} opens a page of {to:?}, but no [[process]] has that name"
            );
        }
    }
    Ok(())
}

/// The outcome of one scenario run.
pub struct RunReport {
    pub protocol: String,
    pub received: Received,
    pub elapsed: Duration,
}

/// Runs the scenario once per protocol. Returns the reports, or an error
/// that shows what was expected beside what arrived.
pub async fn run(
    example: &Example,
    scenario: &Scenario,
    target_dir: &Path,
    postgres: Option<&crate::postgres::Postgres>,
    stack: Option<&crate::backends::Backends>,
) -> Result<Vec<RunReport>> {
    for tier in &scenario.through {
        if tier != "rotel" {
            bail!(
                "through = [{tier:?}]: the only collector the runner knows is rotel"
            );
        }
    }
    // One run per protocol, then one more per collector tier, over the first.
    let first = scenario
        .protocols
        .first()
        .map_or("http/protobuf", String::as_str);
    let runs = scenario.protocols.iter().map(|p| (p.as_str(), None)).chain(
        // Against a stack, its collector is the tier.
        scenario
            .through
            .iter()
            .filter(|_| stack.is_none())
            .map(|t| (first, Some(t.as_str()))),
    );
    let mut reports = Vec::new();
    for (protocol, through) in runs {
        let label = match through {
            Some(tier) => format!("{protocol} through {tier}"),
            None => protocol.to_owned(),
        };
        let started = Instant::now();
        let database_url = match postgres {
            Some(postgres) if scenario.needs.iter().any(|n| n == "postgres") => {
                Some(postgres.fresh_database()?)
            }
            _ => None,
        };
        let context = RunContext {
            example_dir: &example.dir,
            database_url: database_url.as_deref(),
            stack,
        };
        let received = run_once(scenario, &context, protocol, through, target_dir)
            .await
            .with_context(|| format!("scenario {} over {label}", example.slug))?;
        reports.push(RunReport {
            protocol: label,
            received,
            elapsed: started.elapsed(),
        });
    }
    Ok(reports)
}

/// What a run substitutes into the processes' variables, and where their
/// telemetry goes.
struct RunContext<'a> {
    example_dir: &'a Path,
    database_url: Option<&'a str>,
    /// The docker stack's collector instead of the embedded one; the
    /// assertions then go through Jaeger's and Prometheus's APIs.
    stack: Option<&'a crate::backends::Backends>,
}

async fn run_once(
    scenario: &Scenario,
    context: &RunContext<'_>,
    protocol: &str,
    through: Option<&str>,
    target_dir: &Path,
) -> Result<Received> {
    let collector = Collector::start(0, 0).await?;
    // The processes export to rotel, when it is in between, and rotel to us.
    let rotel = match through {
        Some(_) => {
            Some(crate::rotel::Rotel::start(&collector.grpc_endpoint()).await?)
        }
        None => None,
    };
    let endpoint = match (&rotel, protocol == "grpc") {
        _ if context.stack.is_some() => context
            .stack
            .map(|s| s.otlp_endpoint(protocol).to_owned())
            .unwrap_or_default(),
        (Some(rotel), true) => rotel.grpc_endpoint.clone(),
        (Some(rotel), false) => rotel.http_endpoint.clone(),
        (None, true) => collector.grpc_endpoint(),
        (None, false) => collector.http_endpoint(),
    };
    let started_at = std::time::SystemTime::now();

    let agent = if scenario.needs.iter().any(|n| n == "datadog-agent") {
        Some(crate::ddagent::DdAgent::start().await?)
    } else {
        None
    };
    let otlp_http = match context.stack {
        Some(stack) => stack.otlp_http.clone(),
        None => collector.http_endpoint(),
    };
    let target = target_dir.to_string_lossy().into_owned();
    let places = Places {
        endpoint: &endpoint,
        otlp_http: &otlp_http,
        target_dir: &target,
        datadog: agent.as_ref().map(|a| DatadogPlaces {
            trace_agent: &a.trace_url,
            otlp: a.otlp_endpoint(protocol),
            dogstatsd: &a.dogstatsd,
        }),
    };
    let mut running: Vec<Running> = Vec::new();
    // Kept open until the spans arrived: a page sends its last ones late.
    let mut browser = None;
    let outcome = async {
        for process in &scenario.process {
            if process.until_exit {
                let env = process_env(process, context, &places, protocol, &running);
                run_to_exit(
                    process,
                    &target_dir.join("debug").join(&process.bin),
                    &env,
                )
                .await?;
                continue;
            }
            let started =
                start(process, context, &places, protocol, &running, target_dir)
                    .await?;
            running.push(started);
        }
        let prometheus = match &scenario.prometheus {
            Some(setup) => Some(start_prometheus(setup, &running).await?),
            None => None,
        };
        drive(scenario, &running).await?;
        if !scenario.browser.is_empty() {
            let started = crate::webdriver::Browser::start().await?;
            let browser = browser.insert(started);
            use_browser(scenario, browser, &running).await?;
        }
        if let Some(prometheus) = &prometheus {
            check_promql(&scenario.expect.promql, prometheus).await?;
        }
        anyhow::Ok(())
    }
    .await;

    let mut exit_problems = Vec::new();
    for process in running.iter_mut().rev() {
        if let Err(e) = process.stop().await {
            exit_problems.push(format!("{e:#}"));
        }
    }
    if let Some(rotel) = rotel {
        rotel.stop().await;
    }
    let outputs: BTreeMap<String, Vec<String>> = running
        .iter()
        .map(|r| (r.name.clone(), r.output_lines()))
        .collect();
    // What the Datadog agent received becomes what the collector received.
    let (copied, datagrams) = match agent {
        Some(agent) => {
            let copied = agent
                .copy_into(&collector.http_endpoint(), &collector.store)
                .await;
            let datagrams = agent.datagrams();
            agent.stop().await;
            (copied, datagrams)
        }
        None => (Ok(()), Vec::new()),
    };
    outcome?;
    if !exit_problems.is_empty() {
        bail!("{}", exit_problems.join("\n"));
    }
    copied.context("reading back what the Datadog test agent received")?;
    if let Some(stack) = context.stack {
        let received =
            from_stack(scenario, stack, started_at, &datagrams, &outputs).await;
        if let Some(browser) = browser {
            browser.quit().await;
        }
        return received;
    }

    let deadline = Instant::now() + ARRIVAL_DEADLINE;
    loop {
        let received = collector.store.snapshot();
        let mut failures = check(&scenario.expect, &received);
        failures.extend(check_datadog(
            &scenario.expect,
            &datagrams,
            &outputs,
            &received,
        ));
        if failures.is_empty() {
            if let Some(browser) = browser {
                browser.quit().await;
            }
            return Ok(received);
        }
        if Instant::now() >= deadline {
            let console = match browser {
                Some(browser) => {
                    let console = browser.console().await;
                    browser.quit().await;
                    console
                }
                None => String::new(),
            };
            bail!(
                "{}{console}",
                explain(&failures, &received, &scenario.snapshot)
            );
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            collector.store.changed(),
        )
        .await;
    }
}

// ANCHOR: from_stack
/// What the stack's backends hold for this run: spans from Jaeger for each
/// expected service, metrics confirmed by Prometheus. Polls until the
/// expectations hold or the deadline passes (Jaeger indexes within seconds).
async fn from_stack(
    scenario: &Scenario,
    stack: &crate::backends::Backends,
    since: std::time::SystemTime,
    datagrams: &[String],
    outputs: &BTreeMap<String, Vec<String>>,
) -> Result<Received> {
    let expect = &scenario.expect;
    let deadline = Instant::now() + STACK_DEADLINE;
    loop {
        let mut received = Received::default();
        // A query that fails now (a backend still starting) is a failure of
        // this round, not of the run: the loop asks again until the deadline.
        let mut failures = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for service in &expect.services {
            match stack.spans(service, since).await {
                // A trace that crosses services comes back once per service.
                Ok(spans) => received.spans.extend(spans.into_iter().filter(|s| {
                    seen.insert((s.trace_id.clone(), s.span_id.clone()))
                })),
                Err(e) => failures.push(format!("Jaeger: {e:#}")),
            }
        }
        failures.extend(check_spans(expect, &received));
        match stack
            .metric_failures(&expect.metric, &expect.services, since)
            .await
        {
            Ok(missing) => failures.extend(missing),
            Err(e) => failures.push(format!("Prometheus: {e:#}")),
        }
        failures.extend(check_datadog(expect, datagrams, outputs, &received));
        if failures.is_empty() {
            return Ok(received);
        }
        if Instant::now() >= deadline {
            let explained = explain(&failures, &received, &scenario.snapshot);
            bail!(
                "{explained}\n(against the docker stack: spans from Jaeger, \
                 metrics from Prometheus; logs are not checked, it keeps none)"
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
// ANCHOR_END: from_stack

/// How long the stack's backends may take to show a run's telemetry.
const STACK_DEADLINE: Duration = Duration::from_secs(60);

/// A started process and what it printed.
pub struct Running {
    name: String,
    /// `http://ADDR` from its `listening on` line.
    pub url: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything it printed so far, stdout and stderr interleaved.
    pub fn output_lines(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn output_tail(&self) -> String {
        let lines = self.output.lock().unwrap_or_else(|p| p.into_inner());
        let start = lines.len().saturating_sub(20);
        lines[start..].join("\n")
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(pid) = self.child.id() else {
            bail!(
                "{} had exited before SIGTERM:\n{}",
                self.name,
                self.output_tail()
            );
        };
        terminate(pid);
        match tokio::time::timeout(EXIT_DEADLINE, self.child.wait()).await {
            Err(_) => {
                let _ = self.child.kill().await;
                bail!(
                    "{} did not exit within {EXIT_DEADLINE:?} of SIGTERM:\n{}",
                    self.name,
                    self.output_tail()
                )
            }
            Ok(Err(e)) => bail!("waiting for {}: {e}", self.name),
            Ok(Ok(status)) if !status.success() => {
                bail!(
                    "{} exited with {status} after SIGTERM:\n{}",
                    self.name,
                    self.output_tail()
                )
            }
            Ok(Ok(_)) => Ok(()),
        }
    }
}

fn terminate(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Addresses and paths a process's `env` may name.
struct Places<'a> {
    /// The collector, for the run's protocol.
    endpoint: &'a str,
    /// The collector's OTLP/HTTP address, whatever the protocol: `{otlp_http}`.
    otlp_http: &'a str,
    /// Cargo's target directory: `{target}`.
    target_dir: &'a str,
    /// The Datadog test agent, when the scenario needs it.
    datadog: Option<DatadogPlaces<'a>>,
}

/// `{dd_trace_agent}` (native intake), `{dd_otlp}` (its OTLP receiver for
/// the run's protocol) and `{dogstatsd}` (`HOST:PORT`).
struct DatadogPlaces<'a> {
    trace_agent: &'a str,
    otlp: &'a str,
    dogstatsd: &'a str,
}

async fn start(
    process: &Process,
    context: &RunContext<'_>,
    places: &Places<'_>,
    protocol: &str,
    earlier: &[Running],
    target_dir: &Path,
) -> Result<Running> {
    let binary = target_dir.join("debug").join(&process.bin);
    let env = process_env(process, context, places, protocol, earlier);
    launch(&process.name, &binary, &env).await
}

/// The variables a process starts with: the collector, the protocol, a log
/// level, and its own `env` with the placeholders filled in.
fn process_env(
    process: &Process,
    context: &RunContext<'_>,
    places: &Places<'_>,
    protocol: &str,
    earlier: &[Running],
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            places.endpoint.to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            protocol.to_owned(),
        ),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ];
    for (key, value) in &process.env {
        let mut value = value
            .replace("{dir}", &context.example_dir.to_string_lossy())
            .replace("{otlp_http}", places.otlp_http)
            .replace("{target}", places.target_dir);
        if let Some(dd) = &places.datadog {
            value = value
                .replace("{dd_trace_agent}", dd.trace_agent)
                .replace("{dd_otlp}", dd.otlp)
                .replace("{dogstatsd}", dd.dogstatsd);
        }
        if let Some(url) = context.database_url {
            value = value.replace("{database_url}", url);
        }
        for other in earlier {
            value = value.replace(&format!("{{{}.url}}", other.name), &other.url);
        }
        env.push((key.clone(), value));
    }
    env
}

/// How long a job may run.
const JOB_DEADLINE: Duration = Duration::from_secs(300);

/// Runs a job to completion; fails, with its output, unless it succeeds.
async fn run_to_exit(
    process: &Process,
    binary: &Path,
    env: &[(String, String)],
) -> Result<()> {
    if !binary.exists() {
        bail!("{} is not built", binary.display());
    }
    let child = Command::new(binary)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let output = tokio::time::timeout(JOB_DEADLINE, child.wait_with_output())
        .await
        .with_context(|| {
            format!("{} did not finish within {JOB_DEADLINE:?}", process.name)
        })??;
    if !output.status.success() {
        bail!(
            "{} failed ({}):\n{}{}",
            process.name,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Starts `binary` with `PORT=0` and `env`, and waits for its
/// `listening on http://ADDR` line. Its output is kept for error messages.
pub async fn launch(
    name: &str,
    binary: &Path,
    env: &[(String, String)],
) -> Result<Running> {
    if !binary.exists() {
        bail!(
            "{} is not built; run `cargo build --workspace --bins` (or `--release`)",
            binary.display()
        );
    }
    let mut command = Command::new(binary);
    command
        .env("PORT", "0")
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;

    let output = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(stdout) = child.stdout.take() {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix(READY_PREFIX) {
                    let _ = ready_tx.send(addr.trim().to_owned());
                }
                output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
    }
    if let Some(stderr) = child.stderr.take() {
        let output = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
    }

    let mut running = Running {
        name: name.to_owned(),
        url: String::new(),
        child,
        output,
    };
    tokio::select! {
        url = ready_rx.recv() => match url {
            Some(url) => running.url = url,
            None => {
                let status = running.child.wait().await.ok();
                bail!(
                    "{name} exited ({}) without printing `{READY_PREFIX}http://ADDR`:\n{}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    running.output_tail()
                );
            }
        },
        _ = tokio::time::sleep(READY_DEADLINE) => {
            bail!(
                "{name} did not print `{READY_PREFIX}http://ADDR` within {READY_DEADLINE:?}:\n{}",
                running.output_tail()
            );
        }
    }
    Ok(running)
}

async fn drive(scenario: &Scenario, running: &[Running]) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for traffic in &scenario.traffic {
        let target = match &traffic.to {
            Some(name) => running.iter().find(|r| &r.name == name),
            None => running.first(),
        }
        .context("traffic has no process to go to")?;
        let url = format!("{}{}", target.url, traffic.path);
        let method = reqwest::Method::from_bytes(traffic.method.as_bytes())
            .with_context(|| {
                format!("{:?} is not an HTTP method", traffic.method)
            })?;
        if let Some(pause) = traffic.pause_ms {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        if let Some(wanted) = &traffic.until {
            poll_until(&client, traffic, method.clone(), &url, wanted, target)
                .await?;
            continue;
        }
        for _ in 0..traffic.repeat {
            let mut request = client.request(method.clone(), &url);
            for (k, v) in &traffic.headers {
                request = request.header(k, v);
            }
            if let Some(body) = &traffic.body {
                request = request.body(body.clone());
            }
            let response = request.send().await.with_context(|| {
                format!("{} {url} failed:\n{}", traffic.method, target.output_tail())
            })?;
            let status = response.status().as_u16();
            if status != traffic.status {
                let body = response.text().await.unwrap_or_default();
                bail!(
                    "{} {url}: expected status {}, got {status}: {body}",
                    traffic.method,
                    traffic.status
                );
            }
        }
    }
    Ok(())
}

/// Runs the `[[browser]]` steps, then leaves the page (`pagehide`: the
/// page sends what it still holds).
async fn use_browser(
    scenario: &Scenario,
    browser: &crate::webdriver::Browser,
    running: &[Running],
) -> Result<()> {
    for (i, step) in scenario.browser.iter().enumerate() {
        let done = if let Some(path) = &step.open {
            let target = match &step.to {
                Some(name) => running.iter().find(|r| &r.name == name),
                None => running.first(),
            }
            .context("a browser step has no process to open")?;
            browser.open(&format!("{}{path}", target.url)).await
        } else if let Some(css) = &step.fill {
            browser
                .fill(css, step.text.as_deref().unwrap_or_default())
                .await
        } else if let Some(css) = &step.click {
            browser.click(css).await
        } else if let Some(css) = &step.wait_for {
            let text = step.text.as_deref().unwrap_or_default();
            browser.wait_for_text(css, text, BROWSER_WAIT).await
        } else {
            Ok(())
        };
        if let Err(error) = done {
            let outputs: Vec<String> = running
                .iter()
                .map(|r| format!("{} printed:\n{}", r.name, r.output_tail()))
                .collect();
            bail!(
                "[[browser]] step {}: {error:#}\n{}",
                i + 1,
                outputs.join("\n")
            );
        }
    }
    browser.open("about:blank").await
}

async fn start_prometheus(
    setup: &PrometheusSetup,
    running: &[Running],
) -> Result<crate::prometheus::Prometheus> {
    let mut jobs = Vec::new();
    for name in &setup.scrape {
        let process = running
            .iter()
            .find(|r| &r.name == name)
            .with_context(|| format!("no running process {name:?} to scrape"))?;
        jobs.push(crate::prometheus::Job {
            name: name.clone(),
            target: process.url.trim_start_matches("http://").to_owned(),
            metrics_path: setup.path.clone(),
        });
    }
    crate::prometheus::Prometheus::start(&jobs).await
}

/// Polls Prometheus until every PromQL expectation holds.
async fn check_promql(
    expectations: &[PromqlExpectation],
    prometheus: &crate::prometheus::Prometheus,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let mut failures = Vec::new();
        for e in expectations {
            let series = prometheus.query(&e.query).await?;
            let sum: f64 = series.iter().map(|(_, v)| v).sum();
            let labelled = series.iter().all(|(labels, _)| {
                e.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            });
            let valued = e.value.is_none_or(|v| (v - sum).abs() < 1e-9);
            if series.is_empty() || !labelled || !valued {
                failures.push(format!(
                    "  - {}{}{}: got {series:?}",
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
        if failures.is_empty() {
            return Ok(());
        }
        if started.elapsed() > PROMQL_DEADLINE {
            bail!(
                "Prometheus ({}) did not answer as expected within {PROMQL_DEADLINE:?}:\n{}",
                prometheus.url,
                failures.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Repeats one request until its answer is the one wanted.
async fn poll_until(
    client: &reqwest::Client,
    traffic: &Traffic,
    method: reqwest::Method,
    url: &str,
    wanted: &BTreeMap<String, toml::Value>,
    target: &Running,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let mut request = client.request(method.clone(), url);
        for (k, v) in &traffic.headers {
            request = request.header(k, v);
        }
        if let Some(body) = &traffic.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.with_context(|| {
            format!("{} {url} failed:\n{}", traffic.method, target.output_tail())
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let matches = status == traffic.status
            && wanted.iter().all(|(pointer, value)| {
                json.pointer(pointer)
                    .is_some_and(|found| json_eq(found, &toml_to_json(value)))
            });
        if matches {
            return Ok(());
        }
        if started.elapsed() > UNTIL_DEADLINE {
            bail!(
                "{} {url}: not status {} with {wanted:?} within {UNTIL_DEADLINE:?}; \
                 last answer {status}: {body}",
                traffic.method,
                traffic.status
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- expectations

fn toml_to_json(value: &toml::Value) -> Value {
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
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn describe_span(e: &SpanExpectation) -> String {
    let mut text = format!("span {:?}", e.name);
    if let Some(kind) = &e.kind {
        text += &format!(" kind={kind}");
    }
    if let Some(status) = &e.status {
        text += &format!(" status={status}");
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
    if let Some(target) = &e.linked_to {
        text += &format!(" linked to {target:?}");
    }
    if e.trace_id_time {
        text += " with a trace id that starts with the time";
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
        || e.kind.as_deref().is_some_and(|k| k != span.kind)
        || e.status.as_deref().is_some_and(|s| s != span.status)
        || e.service.as_deref().is_some_and(|s| s != span.service_name)
        || !attributes_match(&span.attributes, &e.attributes)
        || e.status_message
            .as_deref()
            .is_some_and(|m| m != span.status_message)
        || !e.events.iter().all(|event| span.events.contains(event))
        || e.max_duration_ms
            .is_some_and(|max| span.duration_ms() > max)
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
pub fn check(expect: &Expect, received: &Received) -> Vec<String> {
    let mut failures = Vec::new();
    for e in &expect.request {
        let found = received.requests.iter().any(|r| {
            r.signal == e.signal
                && e.transport.as_deref().is_none_or(|t| t == r.transport)
                && e.compression
                    .as_deref()
                    .is_none_or(|c| r.compression.as_deref().unwrap_or("none") == c)
                && e.headers.iter().all(|(k, v)| r.headers.get(k) == Some(v))
        });
        if !found {
            let seen: Vec<String> = received
                .requests
                .iter()
                .filter(|r| r.signal == e.signal)
                .map(|r| {
                    format!(
                        "{} {} {:?}",
                        r.transport,
                        r.compression.as_deref().unwrap_or("none"),
                        r.headers
                            .iter()
                            .filter(|(k, _)| e.headers.contains_key(*k))
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            failures.push(format!(
                "a {} export request{}{}{}; {} such requests arrived: {seen:?}",
                e.signal,
                e.transport
                    .as_deref()
                    .map(|t| format!(" over {t}"))
                    .unwrap_or_default(),
                e.compression
                    .as_deref()
                    .map(|c| format!(" compressed {c}"))
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
                && e.kind.as_deref().is_none_or(|k| k == m.kind)
                && e.unit.as_deref().is_none_or(|u| u == m.unit)
                && (e.attributes.is_empty()
                    || m.point_attributes
                        .iter()
                        .any(|a| attributes_match(a, &e.attributes)))
        });
        if !found {
            let mut text = format!("metric {:?}", e.name);
            if let Some(kind) = &e.kind {
                text += &format!(" kind={kind}");
            }
            if let Some(unit) = &e.unit {
                text += &format!(" unit={unit}");
            }
            for (k, v) in &e.attributes {
                text += &format!(" {k}={}", toml_to_json(v));
            }
            failures.push(text + " with a data point: none arrived");
        }
    }
    for e in &expect.log {
        let spans: Vec<&SpanRecord> = match &e.in_span {
            Some(name) => {
                received.spans.iter().filter(|s| &s.name == name).collect()
            }
            None => Vec::new(),
        };
        let found = received.logs.iter().any(|log| {
            log.body.contains(&e.body)
                && e.severity
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&log.severity_text))
                && (e.in_span.is_none()
                    || spans.iter().any(|s| {
                        log.trace_id.as_deref() == Some(&s.trace_id)
                            && log.span_id.as_deref() == Some(&s.span_id)
                    }))
        });
        if !found {
            let mut text = format!("log containing {:?}", e.body);
            if let Some(severity) = &e.severity {
                text += &format!(" severity={severity}");
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
    datagrams: &[String],
    outputs: &BTreeMap<String, Vec<String>>,
    received: &Received,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for datagram in datagrams {
        for line in datagram.lines().filter(|l| !l.is_empty()) {
            match crate::ddagent::parse_datagram(line) {
                Ok(parsed) => lines.push(parsed),
                Err(problem) => failures.push(format!("DogStatsD line {problem}")),
            }
        }
    }
    for e in &expect.dogstatsd {
        let found = lines.iter().any(|d| {
            d.name == e.name
                && d.kind == e.kind
                && e.tags.iter().all(|(k, v)| d.tags.get(k) == Some(v))
                && e.value.is_none_or(|v| d.values.contains(&v))
        });
        if !found {
            let tags: Vec<String> =
                e.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            failures.push(format!(
                "DogStatsD {}|{} with tags {tags:?}{}: not among the {} lines received",
                e.name,
                e.kind,
                e.value.map(|v| format!(" and value {v}")).unwrap_or_default(),
                lines.len()
            ));
        }
    }
    for e in &expect.json_log {
        let printed = outputs
            .get(&e.process)
            .map(Vec::as_slice)
            .unwrap_or_default();
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
                    ", whose dd.trace_id and dd.span_id name a received span"
                } else {
                    ""
                },
                printed.len()
            ));
        }
    }
    failures
}

/// Whether a log line's `dd.trace_id` and `dd.span_id` (decimal, the lower
/// 64 bits) are those of a received span.
fn names_a_span(
    object: &serde_json::Map<String, Value>,
    received: &Received,
) -> bool {
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

/// Expected beside received, for a failing scenario.
fn explain(failures: &[String], received: &Received, snapshot: &Snapshot) -> String {
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
    text += &indent(&render_snapshot_with(
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

/// The normalised trace trees of a run: no ids, no timings; identical trees
/// are printed once with their count.
pub fn render_snapshot(received: &Received, snapshot: &Snapshot) -> String {
    let style = Style {
        timings: false,
        attributes: AttributeFilter::Only(&snapshot.attributes),
        width: Some(SNAPSHOT_WIDTH),
    };
    render_snapshot_with(snapshot.spans(received), &style, snapshot.distinct)
}

fn render_snapshot_with(
    spans: Vec<&SpanRecord>,
    style: &Style,
    distinct: bool,
) -> String {
    let mut trees: Vec<(String, usize)> = Vec::new();
    for trace in group_traces(spans) {
        let tree = render_trace(&trace, style);
        match trees.iter_mut().find(|(t, _)| *t == tree) {
            Some((_, n)) => *n += 1,
            None => trees.push((tree, 1)),
        }
    }
    if distinct {
        trees.sort();
        trees.iter_mut().for_each(|(_, n)| *n = 1);
    }
    let mut out = String::new();
    for (i, (tree, n)) in trees.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if *n > 1 {
            out += &format!("({n} traces like this one)\n");
        }
        out += tree;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str, id: &str, parent: Option<&str>) -> SpanRecord {
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
            end_unix_nano: 0,
            attributes: Attributes::from([(
                "http.response.status_code".into(),
                Value::from(200),
            )]),
            events: vec![],
            links: vec![],
        }
    }

    fn expect(text: &str) -> Expect {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn passes_when_everything_arrived() {
        let received = Received {
            spans: vec![span("root", "a", None), span("child", "b", Some("a"))],
            ..Default::default()
        };
        let e = expect(
            r#"services = ["svc"]
            [[span]]
            name = "child"
            parent = "root"
            attributes = { "http.response.status_code" = 200 }"#,
        );
        assert_eq!(check(&e, &received), Vec::<String>::new());
    }

    #[test]
    fn names_the_missing_parent_edge_and_the_wrong_count() {
        let received = Received {
            spans: vec![span("root", "a", None), span("child", "b", None)],
            ..Default::default()
        };
        let e = expect(
            r#"services = ["svc"]
            [[span]]
            name = "child"
            parent = "root"
            [[span]]
            name = "root"
            count = 2"#,
        );
        assert_eq!(
            check(&e, &received),
            vec![
                "span \"child\" child of \"root\", at least 1: 0 arrived".to_owned(),
                "span \"root\", exactly 2: 1 arrived".to_owned(),
            ]
        );
    }

    #[test]
    fn attribute_types_matter() {
        let received = Received {
            spans: vec![span("root", "a", None)],
            ..Default::default()
        };
        let e = expect(
            r#"services = ["svc"]
            [[span]]
            name = "root"
            attributes = { "http.response.status_code" = "200" }"#,
        );
        assert_eq!(check(&e, &received).len(), 1);
    }

    #[test]
    fn rejects_unexpected_services() {
        let mut stranger = span("root", "a", None);
        stranger.service_name = "unknown_service".into();
        let received = Received {
            spans: vec![stranger],
            ..Default::default()
        };
        let e = expect(r#"services = ["svc"]"#);
        assert_eq!(
            check(&e, &received),
            vec![
                "service.name \"unknown_service\" arrived; expected only [\"svc\"]"
                    .to_owned()
            ]
        );
    }
}
