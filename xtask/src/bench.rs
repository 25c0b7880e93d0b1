//! `cargo xtask bench quickstart`: requests/s and latency of the axum
//! quickstart with telemetry on and off, the same release binary, in one run.
//! The load comes from `wrk`, a process of its own, so that the load
//! generator's cost is the same in both modes and not the xtask's.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::scenario::launch;
use crate::workspace;

/// The load of one run.
pub struct Load {
    pub seconds: u64,
    pub concurrency: usize,
    pub rounds: usize,
}

/// What `wrk --latency` reports for one run.
#[derive(Debug, PartialEq)]
struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Measured {
    /// The mean over rounds (each round has the same duration).
    fn mean(runs: &[Measured]) -> Measured {
        let n = runs.len().max(1) as f64;
        Measured {
            per_second: runs.iter().map(|m| m.per_second).sum::<f64>() / n,
            p50_ms: runs.iter().map(|m| m.p50_ms).sum::<f64>() / n,
            p99_ms: runs.iter().map(|m| m.p99_ms).sum::<f64>() / n,
        }
    }
}

/// Builds the quickstart in release mode and measures it with telemetry off
/// (`OTEL_SDK_DISABLED=true`), on (OTLP/HTTP to the embedded collector, a
/// release build in a process of its own), and on with nothing listening at
/// the endpoint;
/// alternating `rounds` times so that drift hits every mode alike.
pub fn quickstart(load: &Load) -> Result<()> {
    if load.concurrency == 0 || load.seconds == 0 || load.rounds == 0 {
        bail!("--seconds, --concurrency and --rounds must be at least 1");
    }
    let wrk_found = Command::new("wrk").arg("--version").output().is_ok();
    if !wrk_found {
        bail!(
            "the load generator `wrk` is not installed (Debian/Ubuntu: apt-get install wrk)"
        );
    }
    let release = workspace::build_release(&["example-axum-quickstart", "xtask"])?;
    let binary = release.join("example-axum-quickstart");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut collector = ReleaseCollector::start(&release.join("xtask")).await?;
        // A port that refuses connections: nothing listens there once dropped.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let modes: [(&str, Vec<(String, String)>); 3] = [
            ("telemetry off", vec![("OTEL_SDK_DISABLED".into(), "true".into())]),
            (
                "telemetry on",
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector.http_endpoint.clone())],
            ),
            (
                "collector down",
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{closed}"))],
            ),
        ];
        let mut runs: [Vec<Measured>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for round in 1..=load.rounds {
            for (i, (mode, env)) in modes.iter().enumerate() {
                let mut env = env.clone();
                env.push(("RUST_LOG".into(), "warn".into()));
                let mut service = launch(mode, &binary, &env).await?;
                let url = format!("{}/hello", service.url);
                wrk(&url, load.concurrency, 1).await?;
                let measured = wrk(&url, load.concurrency, load.seconds).await?;
                service.stop().await?;
                println!(
                    "round {round}/{}: {mode:<14} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
                    load.rounds, measured.per_second, measured.p50_ms, measured.p99_ms
                );
                runs[i].push(measured);
            }
        }
        let totals = collector.stop().await?;
        let off = Measured::mean(&runs[0]);
        let on = Measured::mean(&runs[1]);
        let down = Measured::mean(&runs[2]);
        println!(
            "\nwrk: {} s x {} rounds per mode, {} connections, GET /hello; means over rounds",
            load.seconds, load.rounds, load.concurrency
        );
        println!("{:<16} {:>12} {:>10} {:>10}", "mode", "requests/s", "p50 ms", "p99 ms");
        for (mode, m) in [("telemetry off", &off), ("telemetry on", &on), ("collector down", &down)] {
            println!(
                "{mode:<16} {:>12.0} {:>10.2} {:>10.2}",
                m.per_second, m.p50_ms, m.p99_ms
            );
        }
        for (label, m) in [("on / off", &on), ("down / off", &down)] {
            println!(
                "{label:<16} {:>11.2}x {:>9.2}x {:>9.2}x",
                m.per_second / off.per_second,
                m.p50_ms / off.p50_ms,
                m.p99_ms / off.p99_ms
            );
        }
        println!("the collector (telemetry-on runs): {totals}");
        Ok(())
    })
}

/// `xtask collector --quiet` from a release build, in its own process.
struct ReleaseCollector {
    child: tokio::process::Child,
    http_endpoint: String,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl ReleaseCollector {
    async fn start(xtask: &std::path::Path) -> Result<Self> {
        use tokio::io::AsyncBufReadExt as _;
        let mut child = tokio::process::Command::new(xtask)
            .args([
                "collector",
                "--grpc-port",
                "0",
                "--http-port",
                "0",
                "--quiet",
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", xtask.display()))?;
        let stdout = child.stdout.take().context("collector stdout")?;
        let mut stdout = tokio::io::BufReader::new(stdout).lines();
        while let Some(line) = stdout.next_line().await? {
            if let Some(endpoint) = line.strip_prefix("OTLP/HTTP on ") {
                let http_endpoint =
                    endpoint.split_whitespace().next().unwrap_or("").to_owned();
                return Ok(Self {
                    child,
                    http_endpoint,
                    stdout,
                });
            }
        }
        bail!("the collector exited before printing its OTLP/HTTP address")
    }

    /// SIGINT, then its `received ...` totals line.
    async fn stop(&mut self) -> Result<String> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we spawned and a valid signal number.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGINT);
            }
        }
        let mut totals = String::from("no totals printed");
        while let Some(line) = self.stdout.next_line().await? {
            if let Some(rest) = line.strip_prefix("received ") {
                totals = format!("received {rest}");
            }
        }
        self.child.wait().await?;
        Ok(totals)
    }
}

/// One `wrk` run on one thread (the service gets the other core).
async fn wrk(url: &str, connections: usize, seconds: u64) -> Result<Measured> {
    let output = tokio::process::Command::new("wrk")
        .args(["--threads", "1", "--latency", "--timeout", "10s"])
        .arg(format!("--connections={connections}"))
        .arg(format!("--duration={seconds}s"))
        .arg(url)
        .output()
        .await
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's report:\n{text}"))
}

fn parse_wrk(report: &str) -> Option<Measured> {
    let mut per_second = None;
    let mut p50 = None;
    let mut p99 = None;
    for line in report.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => per_second = value.parse().ok(),
            ["50%", value] => p50 = duration_ms(value),
            ["99%", value] => p99 = duration_ms(value),
            [first, ..] if first.starts_with("Non-2xx") => return None,
            _ => {}
        }
    }
    Some(Measured {
        per_second: per_second?,
        p50_ms: p50?,
        p99_ms: p99?,
    })
}

/// wrk prints `812.00us`, `1.20ms`, `1.05s`.
fn duration_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:4000/hello
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  750.00us
     75%    1.00ms
     90%    1.20ms
     99%    2.50ms
  100000 requests in 5.00s, 12.00MB read
Requests/sec:  20000.00
Transfer/sec:      2.40MB
";

    #[test]
    fn reads_throughput_and_percentiles() {
        assert_eq!(
            parse_wrk(REPORT),
            Some(Measured {
                per_second: 20000.0,
                p50_ms: 0.75,
                p99_ms: 2.5
            })
        );
    }

    #[test]
    fn refuses_a_run_with_errors() {
        let failed = REPORT
            .replace("Requests/sec", "Non-2xx or 3xx responses: 7\nRequests/sec");
        assert_eq!(parse_wrk(&failed), None);
    }
}
