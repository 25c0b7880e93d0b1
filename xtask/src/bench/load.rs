//! The one load runner every bench uses: `wrk`, a process of its own (so the
//! load generator's cost is the same in every mode, and not the xtask's),
//! on one thread (the service gets the other core), reporting through a
//! Lua `done` hook one line that this module parses. A run with socket
//! errors or timeouts is refused: its numbers would describe the failures.

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

/// What a run may answer besides 2xx and 3xx.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answers {
    /// Only successes: a 4xx or 5xx refuses the run.
    Successes,
    /// Any status, each counted (a breaker's 503s are the point).
    Counted,
}

/// The `done` hook (and, when counting, a `response` hook per thread):
/// wrk's Lua API is documented in its `SCRIPTING` file.
const SCRIPT: &str = r#"
local threads = {}
function setup(thread) table.insert(threads, thread) end
COUNT_HOOK
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "xtask-load requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d http_errors=%d p50_us=%d p99_us=%d statuses=",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
  local all = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("counts") or {}
    for status, n in pairs(counts) do all[status] = (all[status] or 0) + n end
  end
  for status, n in pairs(all) do io.write(string.format("%d:%d,", status, n)) end
  io.write("\n")
end
"#;

const COUNT_HOOK: &str = r#"
counts = {}
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
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

/// One `wrk` run of `seconds` against `url` with `connections`, on one thread.
pub async fn run(
    url: &str,
    connections: usize,
    seconds: u64,
    answers: Answers,
) -> Result<Measured> {
    let script = tempfile::Builder::new().suffix(".lua").tempfile()?;
    let hook = if answers == Answers::Counted {
        COUNT_HOOK
    } else {
        ""
    };
    std::fs::write(script.path(), SCRIPT.replace("COUNT_HOOK", hook))?;
    let finished = proc::run_to_exit(
        "wrk",
        Command::new("wrk")
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
    parse(&finished.stdout, answers).with_context(|| {
        format!(
            "wrk's run of {url} is not counted; its report:\n{}",
            finished.stdout
        )
    })
}

/// Reads the `xtask-load` line; refuses a run with socket errors or
/// timeouts, and (unless answers are counted) one with HTTP errors.
fn parse(report: &str, answers: Answers) -> Result<Measured> {
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("xtask-load "))
        .context("no `xtask-load` line: was the script's done hook run?")?;
    let mut fields = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=').context("a field without `=`")?;
        if key == "statuses" {
            for entry in value.split(',').filter(|e| !e.is_empty()) {
                let (status, n) =
                    entry.split_once(':').context("a status without a count")?;
                statuses.insert(status.parse()?, n.parse()?);
            }
        } else {
            fields.insert(
                key,
                value
                    .parse::<u64>()
                    .with_context(|| format!("{key}={value}"))?,
            );
        }
    }
    let field = |key: &str| {
        fields
            .get(key)
            .copied()
            .with_context(|| format!("no {key}"))
    };
    let socket_errors: Vec<String> = ["connect", "read", "write", "timeout"]
        .into_iter()
        .filter_map(|key| match field(key) {
            Ok(0) => None,
            Ok(n) => Some(format!("{key} {n}")),
            Err(e) => Some(e.to_string()),
        })
        .collect();
    if !socket_errors.is_empty() {
        bail!("socket errors and timeouts: {}", socket_errors.join(", "));
    }
    let http_errors = field("http_errors")?;
    if answers == Answers::Successes && http_errors > 0 {
        bail!("{http_errors} responses were HTTP errors (4xx or 5xx)");
    }
    Ok(Measured {
        requests: field("requests")?,
        seconds: field("duration_us")? as f64 / 1e6,
        p50_ms: field("p50_us")? as f64 / 1e3,
        p99_ms: field("p99_us")? as f64 / 1e3,
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "Running 5s test @ http://127.0.0.1:4000/hello\n\
        xtask-load requests=100000 duration_us=5000000 connect=0 read=0 write=0 \
        timeout=0 http_errors=0 p50_us=750 p99_us=2500 statuses=\n";

    #[test]
    fn reads_throughput_and_percentiles() {
        let m = parse(CLEAN, Answers::Successes).unwrap();
        assert_eq!(m.requests, 100_000);
        assert_eq!(m.per_second(), 20_000.0);
        assert_eq!((m.p50_ms, m.p99_ms), (0.75, 2.5));
    }

    #[test]
    fn refuses_a_run_with_socket_errors_or_timeouts() {
        for field in ["connect=0", "read=0", "write=0", "timeout=0"] {
            let report = CLEAN.replace(field, &field.replace('0', "12"));
            let error = parse(&report, Answers::Counted).unwrap_err().to_string();
            assert!(error.contains("socket errors and timeouts"), "{error}");
            assert!(error.contains("12"), "{error}");
        }
    }

    #[test]
    fn refuses_http_errors_unless_they_are_counted() {
        let report = CLEAN
            .replace("http_errors=0", "http_errors=7")
            .replace("statuses=", "statuses=200:99993,503:7,");
        let error = parse(&report, Answers::Successes).unwrap_err().to_string();
        assert!(error.contains("7 responses were HTTP errors"), "{error}");
        let counted = parse(&report, Answers::Counted).unwrap();
        assert_eq!(counted.statuses(), "200: 99993, 503: 7");
    }

    #[test]
    fn a_report_without_the_line_is_refused() {
        assert!(parse("Requests/sec: 1.0\n", Answers::Successes).is_err());
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
