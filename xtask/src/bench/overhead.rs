//! `cargo xtask bench overhead`: what each piece of telemetry costs the
//! quickstart's service, and nothing else. The service runs alone on the
//! first CPU; wrk and the collector share the second, so the collector's
//! decoding is not counted as the service's cost. The modes are the same
//! release binary with different standard variables, alternating rounds;
//! each reports requests/s, p50 and p99, the service's CPU time per
//! request (from `/proc/<pid>/stat` over the measured run) and the spans
//! the collector received against the requests sent, counted at both ends.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use super::load::{self, Load, Measured};
use crate::proc;
use crate::scenario::runner;

/// Where the service runs, and where the load and the collector run.
const SERVICE_CPU: &str = "0";
const LOAD_CPU: &str = "1";

/// One configuration of the same binary.
struct Mode {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// Sends to a port where nothing listens.
    collector_down: bool,
}

const MODES: &[Mode] = &[
    Mode {
        name: "off",
        env: &[("OTEL_SDK_DISABLED", "true")],
        collector_down: false,
    },
    Mode {
        name: "traces",
        env: &[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
        collector_down: false,
    },
    Mode {
        name: "traces+metrics",
        env: &[("OTEL_LOGS_EXPORTER", "none")],
        collector_down: false,
    },
    Mode {
        name: "traces+logs",
        env: &[("OTEL_METRICS_EXPORTER", "none")],
        collector_down: false,
    },
    Mode {
        name: "all (the book's)",
        env: &[],
        collector_down: false,
    },
    Mode {
        name: "all, 10 % sampled",
        env: &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ],
        collector_down: false,
    },
    Mode {
        name: "all, collector down",
        env: &[],
        collector_down: true,
    },
];

/// One measured run of a mode.
struct Run {
    measured: Measured,
    cpu_seconds: f64,
    /// Requests sent over the service's life, the warm-up's included.
    sent: u64,
    /// Spans the collector received over the service's life.
    spans: usize,
    /// How busy the load's CPU (wrk and the collector) was over the run.
    load_cpu_busy: f64,
}

/// Measures every mode `load.rounds` times, alternating.
pub async fn run(load: &Load) -> Result<()> {
    load.check()?;
    load::require_wrk()?;
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        bail!(
            "the overhead bench needs two CPUs: one for the service, one for the load"
        );
    }
    if crate::tools::on_path("taskset").is_none() {
        bail!(
            "`taskset` is not installed (Debian/Ubuntu: apt-get install util-linux)"
        );
    }
    let release = super::build_release(&["example-axum-quickstart", "xtask"])?;
    let binary = release.join("example-axum-quickstart");
    let xtask = release.join("xtask");
    let closed = format!(
        "http://{}",
        std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?
    );
    let mut runs: Vec<Vec<Run>> = MODES.iter().map(|_| Vec::new()).collect();
    for round in 1..=load.rounds {
        for (i, mode) in MODES.iter().enumerate() {
            let (mut collector, http) =
                super::start_collector(&xtask, Some(LOAD_CPU)).await?;
            let endpoint = match mode.collector_down {
                true => closed.clone(),
                false => http,
            };
            let mut run = measure(&binary, mode, &endpoint, load).await?;
            run.spans = super::stop_collector(&mut collector).await?;
            println!(
                "round {round}/{}: {:<20} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  \
                 {:.1} µs CPU/request  {} spans for {} requests sent  load CPU {:.0} % busy",
                load.rounds,
                mode.name,
                run.measured.per_second(),
                run.measured.p50_ms,
                run.measured.p99_ms,
                run.cpu_seconds * 1e6 / run.measured.requests as f64,
                run.spans,
                run.sent,
                run.load_cpu_busy * 100.0,
            );
            runs[i].push(run);
        }
    }
    print_table(load, &runs);
    Ok(())
}

/// One mode, once: the service started on its CPU, warmed up, measured,
/// then stopped (its last batches flushed into the collector).
async fn measure(
    binary: &Path,
    mode: &Mode,
    endpoint: &str,
    load: &Load,
) -> Result<Run> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", SERVICE_CPU])
        .arg(binary)
        .env("PORT", "0")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .envs(mode.env.iter().copied());
    let mut service = runner::serve(mode.name, &mut command).await?;
    let url = format!("{}/hello", service.url);
    let pid = service.process.pid().context("the service exited")?;
    // Warm-up: connections, allocator, the exporter's first batch.
    let warm_up = load::run_on(&url, load.concurrency, 1, Some(LOAD_CPU)).await?;
    let cpu_before = cpu_seconds(pid)?;
    let load_before = cpu_ticks(LOAD_CPU)?;
    let measured =
        load::run_on(&url, load.concurrency, load.seconds, Some(LOAD_CPU)).await?;
    let cpu_seconds = cpu_seconds(pid)? - cpu_before;
    let load_after = cpu_ticks(LOAD_CPU)?;
    let busy = load_after.0.saturating_sub(load_before.0) as f64;
    let total = load_after.1.saturating_sub(load_before.1).max(1) as f64;
    service.process.stop(Duration::from_secs(20)).await?;
    Ok(Run {
        sent: warm_up.requests + measured.requests,
        measured,
        cpu_seconds,
        spans: 0,
        load_cpu_busy: busy / total,
    })
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

fn print_table(load: &Load, runs: &[Vec<Run>]) {
    println!(
        "\nservice on CPU {SERVICE_CPU}, wrk and the collector on CPU {LOAD_CPU}; wrk: {} s x {} \
         rounds per mode, {} connections, GET /hello; means over rounds",
        load.seconds, load.rounds, load.concurrency
    );
    println!(
        "{:<22} {:>10} {:>8} {:>8} {:>12} {:>10} {:>14} {:>10}",
        "mode",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/req",
        "x off",
        "spans/request",
        "load CPU"
    );
    let cpu_per_request = |r: &[Run]| {
        let cpu: f64 = r.iter().map(|run| run.cpu_seconds).sum();
        let requests: u64 = r.iter().map(|run| run.measured.requests).sum();
        cpu * 1e6 / requests.max(1) as f64
    };
    let off = cpu_per_request(&runs[0]);
    for (mode, runs) in MODES.iter().zip(runs) {
        let measured: Vec<Measured> =
            runs.iter().map(|r| r.measured.clone()).collect();
        let merged = Measured::merge(&measured);
        let spans: usize = runs.iter().map(|r| r.spans).sum();
        let requests: u64 = runs.iter().map(|r| r.sent).sum();
        let cpu = cpu_per_request(runs);
        let load_busy = runs.iter().map(|r| r.load_cpu_busy).sum::<f64>()
            / runs.len().max(1) as f64;
        println!(
            "{:<22} {:>10.0} {:>8.2} {:>8.2} {:>12.1} {:>9.2}x {:>14.3} {:>9.0}%",
            mode.name,
            merged.per_second(),
            merged.p50_ms,
            merged.p99_ms,
            cpu,
            cpu / off,
            spans as f64 / requests.max(1) as f64,
            load_busy * 100.0,
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
}
