//! `cargo xtask bench kube-operator`: the operator's resident memory after a
//! number of reconciles. Release builds of the operator and of the in-memory
//! API server; the operator exports to the embedded collector, which counts
//! its `reconcile` spans. Websites are created until that count is reached;
//! then, once nothing moves for a second, the operator's `VmRSS` and `VmHWM`
//! (peak) are read from `/proc`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::otlp::collector::Collector;
use crate::proc::{self, Attempt};

/// Websites created between two looks at the reconcile count.
const BATCH: usize = 25;
/// How long the reconciles may take to reach the target.
const CREATE_LIMIT: Duration = Duration::from_secs(300);
/// How long the reconciles may take to stop moving after that.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

pub async fn run(reconciles: usize, build: super::Build) -> Result<()> {
    if reconciles == 0 {
        bail!("--reconciles must be at least 1");
    }
    let release = super::build(build, &["example-kube-operator"])?;
    measure(&release, reconciles).await
}

async fn measure(release: &std::path::Path, target: usize) -> Result<()> {
    let collector = Collector::start(0, 0).await?;
    let quiet = [("OTEL_SDK_DISABLED", "true"), ("RUST_LOG", "warn")];
    let mut api =
        super::serve("mock-apiserver", &release.join("mock-apiserver"), &quiet)
            .await?;
    let endpoint = collector.http_endpoint();
    let operator_env = [
        ("KUBE_API_URL", api.url.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("RUST_LOG", "warn"),
    ];
    let binary = release.join("example-kube-operator");
    let mut operator = super::serve("operator", &binary, &operator_env).await?;
    let pid = operator.process.pid().context("the operator has no pid")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = memory(pid)?;

    let client = reqwest::Client::new();
    let url = format!(
        "{}/apis/book.example.com/v1/namespaces/bench/websites",
        api.url
    );
    let started = Instant::now();
    let created = std::cell::Cell::new(0_usize);
    let count = || {
        collector
            .store
            .snapshot()
            .spans
            .iter()
            .filter(|s| s.name == "reconcile")
            .count()
    };
    // A batch of Websites each round, until the reconciles reach the target.
    proc::poll_until(CREATE_LIMIT, Duration::from_millis(500), || async {
        let reconciles = count();
        if reconciles >= target {
            return Ok(Attempt::Done(()));
        }
        for _ in 0..BATCH {
            let n = created.get();
            let body = serde_json::json!({
                "apiVersion": "book.example.com/v1", "kind": "Website",
                "metadata": { "name": format!("site-{n:05}") },
                "spec": { "image": "nginx:1.27", "replicas": 2, "port": 80 },
            });
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await?;
            if response.status() != 201 {
                bail!("creating a Website: {}", response.status());
            }
            created.set(n + 1);
        }
        Ok(Attempt::NotYet(format!(
            "{reconciles} reconciles; expected {target}"
        )))
    })
    .await?;
    // Settled: no new reconcile for a second.
    let last = std::cell::Cell::new(count());
    proc::poll_until(SETTLE_LIMIT, Duration::from_secs(1), || async {
        let now = count();
        Ok(if now == last.replace(now) {
            Attempt::Done(())
        } else {
            Attempt::NotYet(format!("{now} reconciles, still moving"))
        })
    })
    .await?;
    let (last, created) = (last.get(), created.get());
    let elapsed = started.elapsed();
    let after = memory(pid)?;
    operator.process.stop(Duration::from_secs(20)).await?;
    api.process.stop(Duration::from_secs(20)).await?;

    println!(
        "\n{last} reconciles of {created} Websites (each with a Deployment and a \
         Service) in {:.1} s, telemetry exported over OTLP/HTTP",
        elapsed.as_secs_f64()
    );
    println!(
        "{:<28} {:>10} {:>10}",
        "operator (release)", "VmRSS MiB", "VmHWM MiB"
    );
    println!(
        "{:<28} {:>10.1} {:>10.1}",
        "idle, before any Website", idle.0, idle.1
    );
    println!(
        "{:<28} {:>10.1} {:>10.1}",
        "after the reconciles", after.0, after.1
    );
    Ok(())
}

/// (VmRSS, VmHWM) of `pid`, in MiB.
fn memory(pid: u32) -> Result<(f64, f64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path} (Linux only)"))?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{path} has no {name}"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("cannot read {line:?}"))?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
