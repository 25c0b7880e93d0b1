//! Load for the benches, and the one result type they share. Two sources:
//!
//! - [`run`]: `wrk`, a process of its own (so the load generator's cost is
//!   the same in every mode, and not the xtask's), on one thread (the
//!   service gets the other core), reporting through a Lua `done` hook one
//!   line that this module parses. A run with socket errors or timeouts is
//!   refused: its numbers would describe the failures.
//! - [`workers`]: clients in this process, each request timed and its
//!   status kept. For a service whose answers are bimodal (a breaker's fast
//!   503s and its 250 ms timeouts), wrk 4.1's percentiles were not
//!   consistent with its own counts: against the breaker, open, it reported
//!   p99 = 195 ms for 539,154 requests in 5.1 s over 16 connections, which
//!   would take over 1,000 connection-seconds of waiting where 82 existed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::proc;

/// The load of one bench: seconds per mode and round, connections, rounds.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub seconds: u64,
    pub concurrency: usize,
    pub rounds: usize,
    /// Whether a fresh service gets a second of load before it is measured
    /// (connections, allocator, the exporter's first batch). A smoke run,
    /// whose figures mean nothing, skips it.
    pub warm_up: bool,
}

impl Load {
    /// Refuses a load that measures nothing.
    pub fn check(&self) -> Result<()> {
        if self.concurrency == 0 || self.seconds == 0 || self.rounds == 0 {
            bail!("--seconds, --concurrency and --rounds must be at least 1");
        }
        Ok(())
    }
}

/// What one run (or the rounds of one mode, merged) measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses by status, when counted.
    pub statuses: BTreeMap<u16, u64>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The rounds of one mode: requests and time added, percentiles the
    /// mean of the rounds' (each round has the same duration).
    pub fn merge(runs: &[Measured]) -> Measured {
        let n = runs.len().max(1) as f64;
        let mut all = Measured::default();
        for run in runs {
            all.requests += run.requests;
            all.seconds += run.seconds;
            all.p50_ms += run.p50_ms / n;
            all.p99_ms += run.p99_ms / n;
            for (status, count) in &run.statuses {
                *all.statuses.entry(*status).or_default() += count;
            }
        }
        all
    }

    /// `200: 133569, 503: 64`.
    pub fn statuses(&self) -> String {
        self.statuses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// wrk's `done` hook (its Lua API is documented in wrk's `SCRIPTING`):
/// one line with the counts and percentiles this module reads.
const SCRIPT: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "xtask-load requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d http_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// Whether `wrk` is installed, or what to install.
pub fn require_wrk() -> Result<()> {
    if crate::tools::on_path("wrk").is_none() {
        bail!(
            "the load generator `wrk` is not installed (Debian/Ubuntu: apt-get install wrk)"
        );
    }
    Ok(())
}

/// `concurrency` clients in this process, each sending `GET url` back to
/// back for `seconds`; every request's latency and status recorded.
pub async fn workers(
    url: &str,
    concurrency: usize,
    seconds: u64,
) -> Result<Measured> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = std::time::Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        tasks.spawn(async move {
            let mut latencies_ms = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            while std::time::Instant::now() < until {
                let sent = std::time::Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                latencies_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                *statuses.entry(status).or_default() += 1;
            }
            anyhow::Ok((latencies_ms, statuses))
        });
    }
    let mut latencies_ms = Vec::new();
    let mut statuses = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (latencies, counted) = done.context("a load worker panicked")??;
        latencies_ms.extend(latencies);
        for (status, n) in counted {
            *statuses.entry(status).or_default() += n;
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Measured {
        requests: latencies_ms.len() as u64,
        // Every worker ran for the same wall time; counted once.
        seconds: started.elapsed().as_secs_f64(),
        p50_ms: quantile(&latencies_ms, 0.5),
        p99_ms: quantile(&latencies_ms, 0.99),
        statuses,
    })
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// One `wrk` run of `seconds` against `url` with `connections`, on one
/// thread; every answer must be a success.
pub async fn run(url: &str, connections: usize, seconds: u64) -> Result<Measured> {
    run_on(url, connections, seconds, None).await
}

/// As [`run`], with wrk held to `cpus` (`taskset -c` syntax) when given.
pub async fn run_on(
    url: &str,
    connections: usize,
    seconds: u64,
    cpus: Option<&str>,
) -> Result<Measured> {
    let script = tempfile::Builder::new().suffix(".lua").tempfile()?;
    std::fs::write(script.path(), SCRIPT)?;
    let mut command = match cpus {
        Some(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", cpus, "wrk"]);
            taskset
        }
        None => Command::new("wrk"),
    };
    let finished = proc::run_to_exit(
        "wrk",
        command
            .args(["--threads", "1", "--timeout", "10s"])
            .arg(format!("--connections={connections}"))
            .arg(format!("--duration={seconds}s"))
            .arg("--script")
            .arg(script.path())
            .arg(url),
        Duration::from_secs(seconds + 60),
    )
    .await?;
    if !finished.status.success() {
        bail!("wrk failed ({}): {}", finished.status, finished.printed());
    }
    parse(&finished.stdout).with_context(|| {
        format!(
            "wrk's run of {url} is not counted; its report:\n{}",
            finished.stdout
        )
    })
}

/// Reads the `xtask-load` line; refuses a run with socket errors,
/// timeouts or HTTP errors.
fn parse(report: &str) -> Result<Measured> {
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("xtask-load "))
        .context("no `xtask-load` line: was the script's done hook run?")?;
    let mut fields = BTreeMap::new();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=').context("a field without `=`")?;
        let value = value
            .parse::<u64>()
            .with_context(|| format!("{key}={value}"))?;
        fields.insert(key, value);
    }
    let field = |key: &str| {
        fields
            .get(key)
            .copied()
            .with_context(|| format!("no {key}"))
    };
    let mut socket_errors = Vec::new();
    for key in ["connect", "read", "write", "timeout"] {
        match field(key)? {
            0 => {}
            n => socket_errors.push(format!("{key} {n}")),
        }
    }
    if !socket_errors.is_empty() {
        bail!("socket errors and timeouts: {}", socket_errors.join(", "));
    }
    let http_errors = field("http_errors")?;
    if http_errors > 0 {
        bail!("{http_errors} responses were HTTP errors (4xx or 5xx)");
    }
    Ok(Measured {
        requests: field("requests")?,
        seconds: field("duration_us")? as f64 / 1e6,
        p50_ms: field("p50_us")? as f64 / 1e3,
        p99_ms: field("p99_us")? as f64 / 1e3,
        statuses: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 5s test @ http://127.0.0.1:4000/hello\n\
        xtask-load requests=100000 duration_us=5000000 connect=0 read=0 write=0 \
        timeout=0 http_errors=0 p50_us=750 p99_us=2500\n";

    #[test]
    fn reads_throughput_and_percentiles() {
        let m = parse(CLEAN).unwrap();
        assert_eq!(m.requests, 100_000);
        assert_eq!(m.per_second(), 20_000.0);
        assert_eq!((m.p50_ms, m.p99_ms), (0.75, 2.5));
    }

    #[test]
    fn refuses_a_run_with_socket_errors_or_timeouts() {
        for field in ["connect=0", "read=0", "write=0", "timeout=0"] {
            let report = CLEAN.replace(field, &field.replace('0', "12"));
            let error = parse(&report).unwrap_err().to_string();
            assert!(error.contains("socket errors and timeouts"), "{error}");
            assert!(error.contains("12"), "{error}");
        }
    }

    #[test]
    fn refuses_http_errors() {
        let report = CLEAN.replace("http_errors=0", "http_errors=7");
        let error = parse(&report).unwrap_err().to_string();
        assert!(error.contains("7 responses were HTTP errors"), "{error}");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.99), 99.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_report_without_the_line_is_refused() {
        assert!(parse("Requests/sec: 1.0\n").is_err());
    }

    #[test]
    fn merging_adds_requests_and_statuses_and_averages_percentiles() {
        let one = Measured {
            requests: 2,
            seconds: 1.0,
            p50_ms: 1.0,
            p99_ms: 3.0,
            statuses: BTreeMap::from([(200, 2)]),
        };
        let two = Measured {
            requests: 1,
            seconds: 1.0,
            p50_ms: 3.0,
            p99_ms: 5.0,
            statuses: BTreeMap::from([(200, 1)]),
        };
        let merged = Measured::merge(&[one, two]);
        assert_eq!(merged.per_second(), 1.5);
        assert_eq!((merged.p50_ms, merged.p99_ms), (2.0, 4.0));
        assert_eq!(merged.statuses(), "200: 3");
    }
}
