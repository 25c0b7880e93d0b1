//! One scenario, run once per protocol (and once more through each
//! collector tier): the embedded collector, the services the scenario
//! needs, the example's processes with their variables filled in, the
//! traffic and browser steps, SIGTERM, then polling until every expectation
//! holds or the deadline passes. Against the docker stack, the same
//! expectations are checked on what Jaeger and Prometheus hold.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::expect::{self, Observed, Visible};
use super::judge::{Evidence, judge};
use super::spec::{self, Kind, Process, PrometheusSetup, Protocol, Scenario, Tier};
use super::traffic::{self, Server};
use crate::otlp::collector::Collector;
use crate::otlp::received::Received;
use crate::proc::{self, Attempt, Running};
use crate::repo::{self, Example};
use crate::semconv::registry;
use crate::services::browser::Browser;
use crate::services::desktop;
use crate::services::docker::{Backends, MetricQuery};
use crate::services::envoy::{Envoy, Ports};
use crate::services::prometheus::{self, Prometheus};
use crate::services::rotel::Rotel;
use crate::services::{Around, Service, Shared, Stops, lambda};

/// How long a process may take to print its `listening on` line.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a process may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(20);
/// How long telemetry may take to arrive after the processes exited.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(15);
/// How long the stack's backends may take to show a run's telemetry.
const STACK_DEADLINE: Duration = Duration::from_secs(60);
/// How long PromQL expectations may take to hold (scrapes every second).
const PROMQL_DEADLINE: Duration = Duration::from_secs(20);
/// How long a job may run.
const JOB_DEADLINE: Duration = Duration::from_secs(300);
/// The line a service prints when it is ready.
pub const READY_PREFIX: &str = "listening on ";

/// The outcome of one scenario run.
pub struct RunReport {
    pub protocol: String,
    pub received: Received,
    pub elapsed: Duration,
}

/// Runs the scenario once per protocol, and once more through each
/// collector tier. Returns the reports, or an error that shows what was
/// expected beside what arrived.
pub async fn run(
    example: &Example,
    scenario: &Scenario,
    shared: &Shared,
    stack: Option<&Backends>,
) -> Result<Vec<RunReport>> {
    let first = scenario
        .protocols
        .first()
        .copied()
        .unwrap_or(Protocol::HttpProtobuf);
    let runs = scenario.protocols.iter().map(|p| (*p, None)).chain(
        // Against a stack, its collector is the tier.
        scenario
            .through
            .iter()
            .filter(|_| stack.is_none())
            .map(|t| (first, Some(*t))),
    );
    let mut reports = Vec::new();
    for (protocol, through) in runs {
        let label = match through {
            Some(tier) => format!("{} through {}", protocol.as_str(), tier.as_str()),
            None => protocol.as_str().to_owned(),
        };
        let started = Instant::now();
        let run = Run {
            example,
            scenario,
            protocol,
            through,
            shared,
            stack,
            extra_env: Vec::new(),
            profile: "debug",
        };
        let received = run
            .once()
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

/// One run: what it substitutes into the processes' variables, and where
/// their telemetry goes.
pub struct Run<'a> {
    example: &'a Example,
    scenario: &'a Scenario,
    protocol: Protocol,
    through: Option<Tier>,
    /// What outlives the run (PostgreSQL, whose runs each get a fresh
    /// database).
    shared: &'a Shared,
    /// The docker stack's collector instead of the embedded one; the
    /// assertions then go through Jaeger's and Prometheus's APIs.
    stack: Option<&'a Backends>,
    /// Variables every process gets last, over the scenario's own.
    extra_env: Vec<(String, String)>,
    /// Cargo's profile directory the binaries are in: `debug`, or
    /// `release` for a bench.
    profile: &'static str,
}

/// What a run started: the example's processes and, in one list, the
/// services around them (the needs', rotel, Prometheus), each stopped when
/// its [`Stops`] says. [`Session::stop_processes`] stops the processes in
/// reverse order; the agent and the browser are kept until what they hold
/// has been read.
#[derive(Default)]
pub struct Session {
    pub servers: Vec<Server>,
    services: Vec<Box<dyn Service>>,
    /// The page or the desktop app the `[[browser]]` steps drive; kept open
    /// until the spans arrived: a page sends its last ones late.
    pub browser: Option<Browser>,
    /// The desktop app the `[[browser]]` steps start and drive: its binary
    /// and environment.
    desktop_app: Option<(PathBuf, Vec<(String, String)>)>,
    /// The servers have been stopped.
    stopped: bool,
    /// The lingering servers have been stopped.
    lingering_stopped: bool,
    /// The jobs that ran to their end, and what they printed.
    pub jobs: Vec<(String, String)>,
}

impl Session {
    /// The X display the scenario's desktop app runs on, once started.
    pub fn desktop_display(&self) -> Option<String> {
        self.desktop_app.as_ref()?;
        Some(self.browser.as_ref()?.display()?.name())
    }

    /// The service of type `T` the run started, if it did.
    pub fn service<T: Service>(&self) -> Option<&T> {
        self.services
            .iter()
            .find_map(|s| (s.as_ref() as &dyn Any).downcast_ref::<T>())
    }

    /// What the services received themselves (Datadog's agent holds the
    /// native exports), turned into arrivals at `collector`; the StatsD
    /// datagrams they hold.
    pub async fn read_back(&self, collector: &Collector) -> Result<Vec<String>> {
        let mut datagrams = Vec::new();
        for service in &self.services {
            datagrams.extend(service.read_back(collector).await?);
        }
        Ok(datagrams)
    }

    /// Stops the services that stop `when`, last started first.
    async fn stop_services(&mut self, when: Stops) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.services)
            .into_iter()
            .partition(|s| s.stops() == when);
        self.services = later;
        for service in now.into_iter().rev() {
            service.stop().await;
        }
    }

    /// Stops the services that watch the processes (Prometheus), the
    /// example's servers (SIGTERM, last started first), then the services
    /// they talk to (rotel, a broker, a cache); returns what went wrong
    /// with the servers' exits. The servers stay in the session (their
    /// output is read afterwards); a second call stops nothing.
    pub async fn stop_processes(&mut self) -> Vec<String> {
        if std::mem::replace(&mut self.stopped, true) {
            return Vec::new();
        }
        self.stop_services(Stops::BeforeProcesses).await;
        let mut problems = Vec::new();
        for server in self.servers.iter_mut().rev().filter(|s| !s.lingers) {
            if server.frozen.load(std::sync::atomic::Ordering::SeqCst) {
                // Lambda reclaims a frozen function without waking it:
                // what it had not exported is lost.
                server.process.signal(proc::Signal::Kill);
                let _ = server.process.wait_exit(EXIT_DEADLINE).await;
                continue;
            }
            if let Err(e) = server.process.stop(EXIT_DEADLINE).await {
                problems.push(format!("{e:#}"));
            }
        }
        self.stop_services(Stops::AfterProcesses).await;
        problems
    }

    /// Stops the servers that linger (Envoy): what they send has been
    /// read, or will not be. Their exit status is theirs, not judged.
    pub async fn stop_lingering(&mut self) {
        if std::mem::replace(&mut self.lingering_stopped, true) {
            return;
        }
        for server in self.servers.iter_mut().rev().filter(|s| s.lingers) {
            server.process.signal(proc::Signal::Terminate);
            let _ = server.process.wait_exit(EXIT_DEADLINE).await;
        }
    }

    /// Stops everything still running, whatever happened before.
    pub async fn stop_all(&mut self) -> Vec<String> {
        let problems = self.stop_processes().await;
        self.stop_lingering().await;
        self.stop_services(Stops::AfterReading).await;
        if let Some(browser) = self.browser.take() {
            browser.quit().await;
        }
        problems
    }
}

impl<'a> Run<'a> {
    /// A run for `cargo xtask run`: the scenario's first protocol, straight
    /// to the embedded collector.
    pub fn live(
        example: &'a Example,
        scenario: &'a Scenario,
        shared: &'a Shared,
    ) -> Self {
        Run {
            example,
            scenario,
            protocol: scenario
                .protocols
                .first()
                .copied()
                .unwrap_or(Protocol::HttpProtobuf),
            through: None,
            shared,
            stack: None,
            extra_env: Vec::new(),
            profile: "debug",
        }
    }

    /// As [`Run::live`], every process also getting `env`, over the
    /// scenario's own variables.
    pub fn with_env(
        example: &'a Example,
        scenario: &'a Scenario,
        shared: &'a Shared,
        env: Vec<(String, String)>,
    ) -> Self {
        Run {
            extra_env: env,
            ..Run::live(example, scenario, shared)
        }
    }

    /// The release builds of the binaries, for a bench.
    pub fn release(self) -> Self {
        Run {
            profile: "release",
            ..self
        }
    }

    async fn once(&self) -> Result<Received> {
        let collector = Collector::start(0, 0).await?;
        let mut session = Session::default();
        let received = self.judged(&collector, &mut session).await;
        // Whatever happened: the agent, the browser or the desktop app
        // (with its display) end now, not killed when dropped.
        session.stop_all().await;
        received
    }

    /// Starts and exercises the run, stops its processes, and judges what
    /// arrived.
    async fn judged(
        &self,
        collector: &Collector,
        session: &mut Session,
    ) -> Result<Received> {
        let scenario = self.scenario;
        let started_at = SystemTime::now();
        let outcome = async {
            self.start(collector, session).await?;
            self.exercise(session).await
        }
        .await;
        let exit_problems = session.stop_processes().await;
        let mut observed = Observed {
            datagrams: Vec::new(),
            outputs: session
                .servers
                .iter()
                .map(|s| (s.process.name.clone(), s.process.output_lines()))
                .chain(session.jobs.iter().map(|(name, printed)| {
                    (name.clone(), printed.lines().map(str::to_owned).collect())
                }))
                .collect(),
        };
        let read_back = session.read_back(collector).await;
        outcome?;
        if !exit_problems.is_empty() {
            anyhow::bail!("{}", exit_problems.join("\n"));
        }
        observed.datagrams = read_back?;

        let received = match self.stack {
            Some(stack) => self.stack_received(stack, started_at, &observed).await,
            None => {
                proc::poll_until(
                    ARRIVAL_DEADLINE,
                    Duration::from_millis(50),
                    || async {
                        let received = collector.store.snapshot();
                        let failures = judge(Evidence::Telemetry {
                            expect: &scenario.expect,
                            received: &received,
                            observed: &observed,
                            visible: Visible::ALL,
                        })?;
                        Ok(if failures.is_empty() {
                            Attempt::Done(received)
                        } else {
                            Attempt::NotYet(expect::explain(
                                &failures,
                                &received,
                                &scenario.snapshot,
                            ))
                        })
                    },
                )
                .await
                .and_then(|received| {
                    // The names, once everything expected has arrived.
                    let failures = judge(Evidence::Names {
                        received: &received,
                        scenario,
                    })?;
                    if failures.is_empty() {
                        return Ok(received);
                    }
                    anyhow::bail!(
                        "{} name(s) that are no semantic convention's (the registry \
                         of {}):\n  - {}",
                        failures.len(),
                        registry::PATH,
                        failures.join("\n  - ")
                    )
                })
            }
        };
        session.stop_lingering().await;
        match &session.browser {
            Some(browser) if received.is_err() => {
                let console = browser.console().await;
                received.map_err(|e| anyhow::anyhow!("{e:#}{console}"))
            }
            _ => received,
        }
    }

    /// Starts what the scenario needs around the example (rotel when it is
    /// the tier, Datadog's agent), then the example's processes in order
    /// (jobs run to their end), then Prometheus scraping them. What started
    /// is in `session`, also when a later start fails.
    pub async fn start(
        &self,
        collector: &Collector,
        session: &mut Session,
    ) -> Result<()> {
        let scenario = self.scenario;
        // The processes export to rotel, when it is in between, and rotel to us.
        let mut rotel = None;
        if let Some(Tier::Rotel) = self.through {
            let started = Rotel::start(&collector.grpc_endpoint()).await?;
            rotel =
                Some((started.grpc_endpoint.clone(), started.http_endpoint.clone()));
            session.services.push(Box::new(started));
        }
        let grpc = self.protocol == Protocol::Grpc;
        let endpoint = match (self.stack, rotel) {
            (Some(stack), _) => {
                stack.otlp_endpoint(self.protocol.as_str()).to_owned()
            }
            (None, Some((grpc_endpoint, _))) if grpc => grpc_endpoint,
            (None, Some((_, http_endpoint))) => http_endpoint,
            (None, None) if grpc => collector.grpc_endpoint(),
            (None, None) => collector.http_endpoint(),
        };
        let (otlp_grpc, otlp_http) = match self.stack {
            Some(stack) => (
                stack.otlp_endpoint(Protocol::Grpc.as_str()).to_owned(),
                stack.otlp_http.clone(),
            ),
            None => (collector.grpc_endpoint(), collector.http_endpoint()),
        };
        let mut values = common_values(&self.example.dir, otlp_grpc, otlp_http);
        for address in spec::ADDRESSES {
            let port = port_of(&values[*address])?;
            values.insert(format!("{address}.port"), port);
        }
        let around = Around {
            protocol: self.protocol.as_str(),
            shared: self.shared,
            collector,
            dir: &self.example.dir,
        };
        for need in &scenario.needs {
            if let Some(started) = need.start(&around).await? {
                values.extend(started.values);
                session.services.push(started.service);
            }
        }
        // Envoys' ports first: a sidecar's address goes to the app started
        // before it. (Chosen free now, they could in principle be taken by
        // a process started in between on port 0.)
        let (mut envoy_ports, mut taken) = (BTreeMap::new(), BTreeSet::new());
        for process in &scenario.process {
            let Kind::Envoy { ports, .. } = &process.kind else {
                continue;
            };
            let ports = Ports::choose(ports, &mut taken)?;
            let listeners = std::iter::once((process.name.clone(), ports.listener))
                .chain(ports.extra.iter().map(|(extra, port)| {
                    (format!("{}.{extra}", process.name), *port)
                }));
            for (listener, port) in listeners {
                values.insert(
                    format!("{listener}.url"),
                    format!("http://127.0.0.1:{port}"),
                );
                values.insert(format!("{listener}.port"), port.to_string());
            }
            envoy_ports.insert(process.name.clone(), ports);
        }
        for process in &scenario.process {
            let server = match &process.kind {
                Kind::Desktop { bin } => {
                    let env = self.process_env(process, &endpoint, &values);
                    let binary = repo::target_dir().join(self.profile).join(bin);
                    session.desktop_app = Some((binary, env));
                    continue;
                }
                Kind::Envoy { config, vars, .. } => {
                    let ports = &envoy_ports[&process.name];
                    self.envoy(process, config, vars, ports, &values).await?
                }
                Kind::Job { bin, exit_code } => {
                    let printed = self
                        .job(process, bin, *exit_code, &endpoint, &values)
                        .await?;
                    session.jobs.push((process.name.clone(), printed));
                    continue;
                }
                Kind::Server { bin } => {
                    self.server(process, bin, &endpoint, &values).await?
                }
                Kind::Function { bin } => {
                    self.function(process, bin, &endpoint, &values).await?
                }
            };
            values.insert(format!("{}.url", process.name), server.url.clone());
            values.insert(format!("{}.port", process.name), port_of(&server.url)?);
            session.servers.push(server);
        }
        if let Some(setup) = &scenario.prometheus {
            let prometheus =
                start_prometheus(setup, &self.example.dir, &session.servers).await?;
            session.services.push(Box::new(prometheus));
        }
        Ok(())
    }

    /// Starts a server of the example (on a free port, unless the
    /// scenario's `env` says otherwise), returned once it is ready.
    async fn server(
        &self,
        process: &Process,
        bin: &str,
        endpoint: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Server> {
        let mut command =
            Command::new(repo::target_dir().join(self.profile).join(bin));
        command.env("PORT", "0");
        command.envs(self.process_env(process, endpoint, values));
        serve(&process.name, &mut command).await
    }

    /// Starts a Lambda function of the example, as Lambda starts one: with
    /// the variables it gives a function (the runtime API's address among
    /// them; the function's name is the binary's). The function polls the
    /// emulator for invocations, so it has no address of its own: its
    /// address is the emulator's, where traffic invokes it.
    async fn function(
        &self,
        process: &Process,
        bin: &str,
        endpoint: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Server> {
        let api = values
            .get(lambda::PLACEHOLDERS[0])
            .context("a Lambda function needs `needs = [\"lambda\"]`")?;
        let mut command =
            Command::new(repo::target_dir().join(self.profile).join(bin));
        command
            .env("AWS_LAMBDA_FUNCTION_NAME", bin)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_RUNTIME_API", format!("{api}/.rt/{bin}"))
            .envs(self.process_env(process, endpoint, values));
        let running = Running::spawn(&process.name, &mut command)?;
        Ok(Server::new(running, api.clone()))
    }

    /// Runs a job of the example to its end; what it printed, if it exited
    /// with `exit_code`.
    async fn job(
        &self,
        process: &Process,
        bin: &str,
        exit_code: i32,
        endpoint: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<String> {
        let mut command =
            Command::new(repo::target_dir().join(self.profile).join(bin));
        command.envs(self.process_env(process, endpoint, values));
        let finished =
            proc::run_to_exit(&process.name, &mut command, JOB_DEADLINE).await?;
        if finished.status.code() != Some(exit_code) {
            anyhow::bail!(
                "{} exited with {}, not with code {exit_code}:\n{}",
                process.name,
                finished.status,
                finished.printed()
            );
        }
        Ok(finished.printed())
    }

    /// The environment of one of the example's processes: where and how to
    /// export, then its scenario's `env`, filled in.
    fn process_env(
        &self,
        process: &Process,
        endpoint: &str,
        values: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let standard = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", self.protocol.as_str()),
            ("RUST_LOG", "info"),
            ("RUST_LOG_EXPORT", "info"),
            ("NO_COLOR", "1"),
        ];
        standard
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .chain(
                process
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), fill(v, values))),
            )
            .chain(self.extra_env.iter().cloned())
            .collect()
    }

    /// Starts an Envoy from the example's configuration `config`, filled in
    /// with the run's values, its `vars` and its ports. It lingers: its
    /// metrics leave on a timer, so it stops after they have been read.
    async fn envoy(
        &self,
        process: &Process,
        config: &str,
        vars: &BTreeMap<String, String>,
        ports: &Ports,
        values: &BTreeMap<String, String>,
    ) -> Result<Server> {
        let path = self.example.dir.join(config);
        let template = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", repo::relative(&path)))?;
        let mut own = values.clone();
        own.insert("port".into(), ports.listener.to_string());
        own.insert("admin_port".into(), ports.admin.to_string());
        for (name, port) in &ports.extra {
            own.insert(format!("{name}_port"), port.to_string());
        }
        for (name, value) in vars {
            own.insert(name.clone(), fill(value, values));
        }
        let envoy =
            Envoy::start(&process.name, ports, &fill(&template, &own)).await?;
        Ok(Server {
            admin_url: Some(envoy.admin_url),
            lingers: true,
            ..Server::new(envoy.process, envoy.url)
        })
    }

    /// The scenario's traffic, its browser steps, and its PromQL
    /// expectations (which need Prometheus, running).
    pub async fn exercise(&self, session: &mut Session) -> Result<()> {
        let scenario = self.scenario;
        traffic::drive(scenario, &session.servers).await?;
        if !scenario.browser.is_empty() {
            let started = match &session.desktop_app {
                Some((binary, env)) => desktop::start_app(binary, env).await?,
                None => Browser::start().await?,
            };
            let browser = session.browser.insert(started);
            traffic::use_browser(scenario, browser, &session.servers).await?;
        }
        if let Some(prometheus) = session.service::<Prometheus>() {
            check_promql(scenario, prometheus).await?;
        }
        Ok(())
    }

    // ANCHOR: from_stack
    /// What the stack's backends hold for this run, checked by the same
    /// judge as the embedded collector's: spans from Jaeger for each
    /// expected service, the expected metrics' series from Prometheus.
    /// Polls until the expectations hold or the deadline passes (Jaeger
    /// indexes within seconds).
    async fn stack_received(
        &self,
        stack: &Backends,
        since: SystemTime,
        observed: &Observed,
    ) -> Result<Received> {
        let expect = &self.scenario.expect;
        let metrics: Vec<MetricQuery> = expect
            .metric
            .iter()
            .map(|e| MetricQuery {
                name: e.name.clone(),
                kind: e.kind.map(|k| k.as_str().to_owned()),
                unit: e.unit.clone(),
                attributes: e
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), expect::toml_to_json(v)))
                    .collect(),
            })
            .collect();
        let snapshot = &self.scenario.snapshot;
        proc::poll_until(STACK_DEADLINE, Duration::from_secs(1), || async {
            // A query that fails now (a backend still starting) fails this
            // round, not the run: the loop asks again.
            let services = &expect.services;
            let received = match stack.received(services, &metrics, since).await {
                Ok(received) => received,
                Err(e) => return Ok(Attempt::NotYet(format!("{e:#}"))),
            };
            let failures = judge(Evidence::Telemetry {
                expect,
                received: &received,
                observed,
                visible: Visible::STACK,
            })?;
            if failures.is_empty() {
                return Ok(Attempt::Done(received));
            }
            let explained = expect::explain(&failures, &received, snapshot);
            Ok(Attempt::NotYet(format!(
                "{explained}\n(against the docker stack: spans from Jaeger, \
                 metrics from Prometheus; logs and export requests are not \
                 checked, it keeps none)"
            )))
        })
        .await
    }
    // ANCHOR_END: from_stack
}

/// Starts a service of the book (its command sets `PORT`, `0` for a free
/// one) and waits for its `listening on http://ADDR` line.
pub async fn serve(name: &str, command: &mut Command) -> Result<Server> {
    let mut process = Running::spawn(name, command)?;
    let url = process.wait_for_line(READY_PREFIX, READY_DEADLINE).await?;
    Ok(Server::new(process, url))
}

/// The values of the placeholders every scenario may use
/// (`spec::PLACEHOLDERS`).
fn common_values(
    example_dir: &Path,
    otlp_grpc: String,
    otlp_http: String,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("otlp_grpc".to_owned(), otlp_grpc),
        ("dir".to_owned(), example_dir.to_string_lossy().into_owned()),
        (
            "target".to_owned(),
            repo::target_dir().to_string_lossy().into_owned(),
        ),
        ("otlp_http".to_owned(), otlp_http),
    ])
}

/// The port of `http://HOST:PORT`, as text.
fn port_of(url: &str) -> Result<String> {
    let port = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .with_context(|| format!("{url:?} is not an address with a port"))?;
    Ok(port.to_string())
}

/// `value` with each `{placeholder}` replaced (the spec checked at load
/// time that each one is defined).
fn fill(value: &str, values: &BTreeMap<String, String>) -> String {
    let mut filled = value.to_owned();
    for (name, replacement) in values {
        filled = filled.replace(&format!("{{{name}}}"), replacement);
    }
    filled
}

async fn start_prometheus(
    setup: &PrometheusSetup,
    dir: &Path,
    servers: &[Server],
) -> Result<Prometheus> {
    let rules: Vec<PathBuf> = setup.rules.iter().map(|f| dir.join(f)).collect();
    let tests: Vec<PathBuf> = setup.rule_tests.iter().map(|f| dir.join(f)).collect();
    prometheus::test_rules(&tests).await?;
    let mut jobs = Vec::new();
    for name in &setup.scrape {
        let server = servers
            .iter()
            .find(|s| &s.process.name == name)
            .with_context(|| format!("no running process {name:?} to scrape"))?;
        jobs.push(prometheus::Job {
            name: name.clone(),
            target: server.url.trim_start_matches("http://").to_owned(),
            metrics_path: setup.path.clone(),
        });
    }
    Prometheus::start(&jobs, &rules).await
}

/// Polls Prometheus until every PromQL expectation holds.
async fn check_promql(scenario: &Scenario, prometheus: &Prometheus) -> Result<()> {
    let expectations = &scenario.expect.promql;
    proc::poll_until(PROMQL_DEADLINE, Duration::from_millis(500), || async {
        let mut answers = Vec::new();
        for e in expectations {
            answers.push(prometheus.query(&e.query).await?);
        }
        let failures = judge(Evidence::PromQl {
            expectations,
            answers: &answers,
        })?;
        Ok(if failures.is_empty() {
            Attempt::Done(())
        } else {
            Attempt::NotYet(format!("\n  - {}", failures.join("\n  - ")))
        })
    })
    .await
    .with_context(|| {
        format!("Prometheus ({}) did not answer as expected", prometheus.url)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_placeholder_has_a_value() {
        let values =
            common_values(Path::new("/x"), "http://g".into(), "http://c".into());
        let names: Vec<&str> = values.keys().map(String::as_str).collect();
        let mut declared = crate::scenario::spec::PLACEHOLDERS.to_vec();
        declared.sort_unstable();
        assert_eq!(names, declared);
    }

    #[test]
    fn placeholders_are_filled_and_other_braces_kept() {
        let values = BTreeMap::from([
            ("api.url".to_owned(), "http://127.0.0.1:1".to_owned()),
            ("dir".to_owned(), "/x".to_owned()),
        ]);
        assert_eq!(
            fill(r#"{api.url}/v1 {dir}/k {"a": 1}"#, &values),
            r#"http://127.0.0.1:1/v1 /x/k {"a": 1}"#
        );
    }

    #[test]
    fn an_unbuilt_binary_is_named() {
        let path = Path::new("/nonexistent/target/debug/example-x");
        let error = Running::spawn("x", &mut Command::new(path)).err().unwrap();
        assert!(format!("{error:#}").contains("is not built"), "{error:#}");
    }
}
