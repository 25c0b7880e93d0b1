//! `cargo xtask bench overhead`: what each piece of telemetry costs a
//! service, and nothing else. The bench service (`bench/`, the book's
//! telemetry modules around the quickstart's handler, and the same handler
//! instrumented other ways) runs alone on the first CPU; wrk and the
//! collector share the second, so the collector's decoding is not counted
//! as the service's cost. The modes are the same release binary with
//! different variables, alternating rounds, on two handlers: `/hello`, and
//! `/work` that does about 190 µs of CPU work first. Each mode is loaded
//! twice: to saturation by wrk (requests/s, the service's CPU time per
//! request), then at a fixed rate below every mode's saturation by oha
//! (`rate`: CPU time per request, p50 and p99). CPU time is read from
//! `/proc/<pid>/stat` over each run. Spans and log records are counted
//! three ways: requests sent, what the SDK says it dropped (its warning at
//! shutdown), and what the collector received.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::Totals;
use super::load::{self, Load, Measured};
use crate::checks::performance::{self, HandlerRecord, ModeRecord, Record};
use crate::proc::{self, Running};
use crate::scenario::runner;
use crate::scenario::traffic::Server;

/// Where the service runs, and where the load and the collector run.
pub const SERVICE_CPU: &str = "0";
pub const LOAD_CPU: &str = "1";

/// One configuration of the bench service.
pub struct Mode {
    /// What `bench profile --mode` calls it.
    pub key: &'static str,
    pub name: &'static str,
    /// `INSTRUMENTATION`: `book`, `api`, `fastrace` or `none`.
    instrumentation: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Sends to a port where nothing listens.
    collector_down: bool,
}

impl Mode {
    const fn book(
        key: &'static str,
        name: &'static str,
        env: &'static [(&'static str, &'static str)],
    ) -> Mode {
        Mode {
            key,
            name,
            instrumentation: "book",
            env,
            collector_down: false,
        }
    }
}

pub const MODES: &[Mode] = &[
    Mode {
        key: "none",
        name: "none (compiled out)",
        instrumentation: "none",
        env: &[],
        collector_down: false,
    },
    Mode::book(
        "disabled",
        "OTEL_SDK_DISABLED",
        &[("OTEL_SDK_DISABLED", "true")],
    ),
    Mode::book(
        "traces",
        "traces",
        &[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    ),
    Mode::book(
        "traces+metrics",
        "traces+metrics",
        &[("OTEL_LOGS_EXPORTER", "none")],
    ),
    Mode::book(
        "traces+logs",
        "traces+logs",
        &[("OTEL_METRICS_EXPORTER", "none")],
    ),
    Mode::book("all", "all (the book's)", &[]),
    Mode::book(
        "sampled",
        "all, 10 % sampled",
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ],
    ),
    Mode::book(
        "batches-of-64",
        "all, batches of 64",
        &[
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64"),
        ],
    ),
    Mode {
        key: "collector-down",
        name: "all, collector down",
        instrumentation: "book",
        env: &[],
        collector_down: true,
    },
    Mode {
        key: "api",
        name: "API layer, all",
        instrumentation: "api",
        env: &[],
        collector_down: false,
    },
    Mode {
        key: "fastrace",
        name: "fastrace, traces",
        instrumentation: "fastrace",
        env: &[],
        collector_down: false,
    },
];

/// A handler measured, and the fixed rate it is loaded at.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub path: &'static str,
    pub rate: u64,
}

/// One measured run of a mode: two lives of the service, each with a
/// collector of its own.
struct Run {
    /// To saturation (wrk).
    measured: Measured,
    cpu_seconds: f64,
    /// What the SDK dropped at saturation.
    saturated_dropped: Totals,
    /// How busy the load's CPU (wrk and the collector) was at saturation.
    load_cpu_busy: f64,
    /// At the handler's fixed rate (oha), on a fresh service.
    fixed: Measured,
    fixed_cpu_seconds: f64,
    /// Requests sent at the fixed rate, the warm-up's included.
    sent: u64,
    /// What the collector received at the fixed rate.
    received: Totals,
    /// What the SDK dropped at the fixed rate.
    dropped: Totals,
}

/// Measures every mode on every handler `load.rounds` times, alternating;
/// with `record`, writes the figures for the book (`checks::performance`).
pub async fn run(
    load: &Load,
    handlers: &[Handler],
    record: bool,
    build: super::Build,
) -> Result<()> {
    load.check()?;
    load::require_wrk()?;
    super::require_two_cpus("the service", "the load and the collector")?;
    // What is measured is what is built now, whatever changes meanwhile.
    let commit = super::commit()?;
    let bench = Bench::build(build)?;
    let mut measured = Vec::new();
    for handler in handlers {
        let mut runs: Vec<Vec<Run>> = MODES.iter().map(|_| Vec::new()).collect();
        for round in 1..=load.rounds {
            for (i, mode) in MODES.iter().enumerate() {
                let run = bench.measure(mode, *handler, load).await?;
                println!(
                    "{} round {round}/{}: {:<20} saturated {:>6.0} req/s {:.1} µs CPU/request \
                     (spans dropped {}, load CPU {:.0} % busy); at {} req/s {:.1} µs \
                     CPU/request p50 {:.2} ms p99 {:.2} ms, sent {} spans received {} \
                     dropped {} logs received {} dropped {}",
                    handler.path,
                    load.rounds,
                    mode.name,
                    run.measured.per_second(),
                    run.cpu_seconds * 1e6 / run.measured.requests as f64,
                    run.saturated_dropped.spans,
                    run.load_cpu_busy * 100.0,
                    handler.rate,
                    run.fixed_cpu_seconds * 1e6 / run.fixed.requests as f64,
                    run.fixed.p50_ms,
                    run.fixed.p99_ms,
                    run.sent,
                    run.received.spans,
                    run.dropped.spans,
                    run.received.log_records,
                    run.dropped.log_records,
                );
                runs[i].push(run);
            }
        }
        let summary = summary(*handler, &runs);
        print_table(load, &summary);
        measured.push(summary);
    }
    if record {
        let record = Record {
            command: std::iter::once("cargo xtask".to_owned())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" "),
            date: super::today(),
            commit,
            machine: super::machine(),
            handler: measured,
        };
        let path = crate::repo::root().join(performance::RECORD);
        std::fs::write(&path, performance::to_toml(&record)?)?;
        println!("wrote {}", performance::RECORD);
        crate::checks::generate::write()?;
    }
    Ok(())
}

/// The mode `bench profile --mode` names, or the list of them.
pub fn mode(key: &str) -> Result<&'static Mode> {
    MODES.iter().find(|m| m.key == key).with_context(|| {
        let keys: Vec<&str> = MODES.iter().map(|m| m.key).collect();
        format!("no mode {key:?}; the modes: {}", keys.join(", "))
    })
}

/// What every measurement uses: the release builds and oha.
pub struct Bench {
    binary: PathBuf,
    xtask: PathBuf,
    pub oha: PathBuf,
    /// An address where nothing listens, for "collector down".
    closed: String,
}

/// A service started on its CPU with a collector on the other.
pub struct Life {
    service: Server,
    collector: Running,
    pub url: String,
    pub pid: u32,
}

impl Life {
    /// Stops the service (its last batches flushed into the collector),
    /// then the collector: what the SDK dropped, what arrived.
    pub async fn end(mut self) -> Result<(Totals, Totals)> {
        self.service.process.stop(Duration::from_secs(20)).await?;
        let dropped = dropped(&self.service.process.output_lines());
        let received = super::stop_collector(&mut self.collector).await?;
        Ok((dropped, received))
    }
}

impl Bench {
    /// Installs oha and builds the bench service (fastrace mode included)
    /// and the collector in release mode.
    pub fn build(build: super::Build) -> Result<Bench> {
        let oha = super::rate::oha(build)?;
        let release = super::build_with(
            build,
            &["telemetry-cost"],
            &["telemetry-cost/fastrace"],
        )?;
        Ok(Bench {
            binary: release.join("telemetry-cost"),
            xtask: super::collector_binary(build)?,
            oha,
            closed: format!(
                "http://{}",
                std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?
            ),
        })
    }

    /// The service in `mode`, on its CPU, exporting to a collector of its
    /// own on the other.
    pub async fn start(&self, mode: &Mode, handler: Handler) -> Result<Life> {
        let (collector, http) =
            super::start_collector(&self.xtask, Some(LOAD_CPU)).await?;
        let endpoint = match mode.collector_down {
            true => self.closed.clone(),
            false => http,
        };
        let mut command = Command::new("taskset");
        command
            .args(["-c", SERVICE_CPU])
            .arg(&self.binary)
            .env("INSTRUMENTATION", mode.instrumentation)
            .env("PORT", "0")
            .env("NO_COLOR", "1")
            // The SDK's warnings (a full queue, and the count of what it
            // dropped) reach the console; the handler's info lines do not.
            .env("RUST_LOG", "warn")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .envs(mode.env.iter().copied());
        let service = runner::serve(mode.name, &mut command).await?;
        let url = format!("{}{}", service.url, handler.path);
        let pid = service.process.pid().context("the service exited")?;
        Ok(Life {
            service,
            collector,
            url,
            pid,
        })
    }

    /// One mode, once: saturated by wrk, then, on a fresh service, loaded
    /// at the handler's rate by oha. Each life is warmed up for a second
    /// first, unless `load` says not to (see [`Load::warm_up`]).
    async fn measure(
        &self,
        mode: &Mode,
        handler: Handler,
        load: &Load,
    ) -> Result<Run> {
        let life = self.start(mode, handler).await?;
        if load.warm_up {
            load::run_on(&life.url, load.concurrency, 1, Some(LOAD_CPU)).await?;
        }
        let cpu_before = cpu_seconds(life.pid)?;
        let load_before = cpu_ticks(LOAD_CPU)?;
        let measured =
            load::run_on(&life.url, load.concurrency, load.seconds, Some(LOAD_CPU))
                .await?;
        let cpu = cpu_seconds(life.pid)? - cpu_before;
        let load_after = cpu_ticks(LOAD_CPU)?;
        let busy = load_after.0.saturating_sub(load_before.0) as f64;
        let total = load_after.1.saturating_sub(load_before.1).max(1) as f64;
        let (saturated_dropped, _) = life.end().await?;

        let life = self.start(mode, handler).await?;
        let at_rate = |seconds| {
            super::rate::run(
                &self.oha,
                &life.url,
                handler.rate,
                load.concurrency,
                seconds,
                LOAD_CPU,
            )
        };
        let warm_up = if load.warm_up {
            at_rate(1).await?.requests
        } else {
            0
        };
        let fixed_before = cpu_seconds(life.pid)?;
        let fixed = at_rate(load.seconds).await?;
        let fixed_cpu_seconds = cpu_seconds(life.pid)? - fixed_before;
        let (dropped, received) = life.end().await?;
        Ok(Run {
            measured,
            cpu_seconds: cpu,
            saturated_dropped,
            load_cpu_busy: busy / total,
            sent: warm_up + fixed.requests,
            fixed,
            fixed_cpu_seconds,
            received,
            dropped,
        })
    }
}

/// What the SDK's batch processors say they dropped: each prints a warning
/// with the count at shutdown when it dropped anything.
pub fn dropped(output: &[String]) -> Totals {
    let count = |field: &str| {
        output
            .iter()
            .filter_map(|line| {
                let (_, after) = line.split_once(field)?;
                after
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    Totals {
        spans: count("dropped_span_count="),
        log_records: count("dropped_logs_count="),
    }
}

/// User and system CPU time of a process, all its threads, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat =
        proc::stat(pid).with_context(|| format!("no process {pid} in /proc"))?;
    Ok(stat.cpu_ticks as f64 / proc::clock_ticks_per_second())
}

/// Busy and total ticks of one CPU so far, from `/proc/stat` (busy: all
/// but idle and I/O wait).
fn cpu_ticks(cpu: &str) -> Result<(u64, u64)> {
    let stat =
        std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&format!("cpu{cpu}")))
        .with_context(|| format!("/proc/stat has no cpu{cpu}"))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle =
        ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// One handler's modes, means over the rounds.
fn summary(handler: Handler, runs: &[Vec<Run>]) -> HandlerRecord {
    let mode = MODES
        .iter()
        .zip(runs)
        .map(|(mode, runs)| {
            let merge = |f: &dyn Fn(&Run) -> Measured| {
                Measured::merge(&runs.iter().map(f).collect::<Vec<_>>())
            };
            let saturated = merge(&|r| r.measured.clone());
            let fixed = merge(&|r| r.fixed.clone());
            let sum = |f: &dyn Fn(&Run) -> u64| runs.iter().map(f).sum::<u64>();
            let per_request =
                |cpu: f64, requests: u64| cpu * 1e6 / requests.max(1) as f64;
            ModeRecord {
                name: mode.name.to_owned(),
                saturated_per_second: saturated.per_second(),
                saturated_cpu_us: per_request(
                    runs.iter().map(|r| r.cpu_seconds).sum(),
                    saturated.requests,
                ),
                cpu_us: per_request(
                    runs.iter().map(|r| r.fixed_cpu_seconds).sum(),
                    fixed.requests,
                ),
                p50_ms: fixed.p50_ms,
                p99_ms: fixed.p99_ms,
                sent: sum(&|r| r.sent),
                spans: sum(&|r| r.received.spans),
                spans_dropped: sum(&|r| r.dropped.spans),
                logs: sum(&|r| r.received.log_records),
                logs_dropped: sum(&|r| r.dropped.log_records),
                saturated_spans_dropped: sum(&|r| r.saturated_dropped.spans),
                saturated_logs_dropped: sum(&|r| r.saturated_dropped.log_records),
            }
        })
        .collect();
    HandlerRecord {
        path: handler.path.to_owned(),
        rate: handler.rate,
        mode,
    }
}

fn print_table(load: &Load, handler: &HandlerRecord) {
    println!(
        "\nGET {}: service on CPU {SERVICE_CPU}, load and collector on CPU {LOAD_CPU}; \
         {} s x {} rounds per mode and load, {} connections; saturated by wrk, then \
         {} req/s by oha; means over rounds",
        handler.path, load.seconds, load.rounds, load.concurrency, handler.rate
    );
    println!(
        "{:<22} {:>9} {:>9} {:>8} | {:>9} {:>7} {:>7} {:>7} {:>7} | {:>9} {:>9} {:>7} {:>9} {:>7}",
        "mode",
        "sat req/s",
        "CPU µs/r",
        "dropped",
        "CPU µs/r",
        "x none",
        "p50 ms",
        "p99 ms",
        "x none",
        "sent",
        "spans",
        "dropped",
        "logs",
        "dropped",
    );
    let none = &handler.mode[0];
    for mode in &handler.mode {
        println!(
            "{:<22} {:>9.0} {:>9.1} {:>8} | {:>9.1} {:>6.2}x {:>7.2} {:>7.2} {:>6.2}x | {:>9} {:>9} {:>7} {:>9} {:>7}",
            mode.name,
            mode.saturated_per_second,
            mode.saturated_cpu_us,
            mode.saturated_spans_dropped,
            mode.cpu_us,
            mode.cpu_us / none.cpu_us,
            mode.p50_ms,
            mode.p99_ms,
            mode.p99_ms / none.p99_ms,
            mode.sent,
            mode.spans,
            mode.spans_dropped,
            mode.logs,
            mode.logs_dropped,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_time_read_is_this_processes_and_grows_with_work() {
        let pid = std::process::id();
        let before = cpu_seconds(pid).unwrap();
        // Spin until the reading moves: a wrong field never would.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_seconds(pid).unwrap() < before + 0.05 {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "30 s of spinning and the CPU time read did not grow"
            );
        }
        assert!(cpu_seconds(4_000_000_000).is_err(), "no such process");
        let (busy, total) = cpu_ticks("0").unwrap();
        assert!(busy <= total && total > 0);
        assert!(cpu_ticks("9999").is_err());
    }

    #[test]
    fn the_sdk_drop_counts_are_read_from_its_shutdown_warnings() {
        let output = [
            "listening on http://127.0.0.1:1".to_owned(),
            " WARN opentelemetry_sdk: name=\"BatchSpanProcessor.SpansDropped\" dropped_span_count=4096 max_queue_size=2048 message=\"...\"".to_owned(),
            " WARN opentelemetry_sdk: name=\"BatchLogProcessor.LogsDropped\" dropped_logs_count=17 max_queue_size=2048".to_owned(),
        ];
        assert_eq!(
            dropped(&output),
            Totals {
                spans: 4096,
                log_records: 17
            }
        );
        assert_eq!(dropped(&output[..1]), Totals::default());
    }
}
