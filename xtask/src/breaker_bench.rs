//! `cargo xtask bench circuit-breaker`: what a circuit breaker buys while a
//! downstream hangs. Release builds of `quotes` and `flaky-pricing`; pricing
//! is switched to `hang`, so every call that reaches it costs the caller's
//! timeout. The same load runs against `quotes` with the breaker off and on
//! (and, for reference, on with pricing healthy), alternating over rounds.
//! The load generator runs in this process: a fixed number of workers, each
//! sending `GET /quote` as soon as its previous request is answered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::scenario::launch;
use crate::workspace;

/// The load of one run.
pub struct Load {
    pub seconds: u64,
    pub concurrency: usize,
    pub rounds: usize,
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    requests: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, usize>,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank =
            ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn merge(runs: &[Measured]) -> Measured {
        let mut all = Measured::default();
        for run in runs {
            all.requests += run.requests;
            all.seconds += run.seconds;
            all.latencies_ms.extend(&run.latencies_ms);
            for (status, n) in &run.statuses {
                *all.statuses.entry(*status).or_default() += n;
            }
        }
        all
    }

    fn statuses(&self) -> String {
        self.statuses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The timeout `quotes` gives pricing, the breaker's settings: the example's
/// defaults, written out so the report can state them.
const TIMEOUT_MS: &str = "250";
const FAILURES: &str = "3";
const OPEN_MS: &str = "5000";

pub fn run(load: &Load) -> Result<()> {
    if load.concurrency == 0 || load.seconds == 0 || load.rounds == 0 {
        bail!("--seconds, --concurrency and --rounds must be at least 1");
    }
    let release = workspace::build_release(&["example-circuit-breaker"])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let quiet = |extra: &[(&str, &str)]| {
            let mut env: Vec<(String, String)> = vec![
                // The breaker is measured, not the exporter.
                ("OTEL_SDK_DISABLED".into(), "true".into()),
                ("RUST_LOG".into(), "error".into()),
            ];
            env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            env
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut pricing =
            launch("pricing", &release.join("flaky-pricing"), &quiet(&[])).await?;
        let set_mode = |mode: &'static str| {
            let request = client.put(format!("{}/mode", pricing.url)).body(mode);
            async move {
                let response = request.send().await?;
                if response.status().as_u16() != 204 {
                    bail!("pricing refused mode {mode}: {}", response.status());
                }
                anyhow::Ok(())
            }
        };
        let modes = [
            ("pricing ok, breaker on", "ok", "on"),
            ("hanging, breaker off", "hang", "off"),
            ("hanging, breaker on", "hang", "on"),
        ];
        let mut runs: Vec<Vec<Measured>> = modes.iter().map(|_| Vec::new()).collect();
        for round in 1..=load.rounds {
            for (i, (label, pricing_mode, breaker)) in modes.iter().enumerate() {
                set_mode(pricing_mode).await?;
                let env = quiet(&[
                    ("PRICING_URL", pricing.url.as_str()),
                    ("PRICING_TIMEOUT_MS", TIMEOUT_MS),
                    ("BREAKER", breaker),
                    ("BREAKER_FAILURES", FAILURES),
                    ("BREAKER_OPEN_MS", OPEN_MS),
                ]);
                let mut quotes =
                    launch("quotes", &release.join("example-circuit-breaker"), &env)
                        .await?;
                let url = format!("{}/quote", quotes.url);
                let measured =
                    drive(&client, &url, load.concurrency, load.seconds).await?;
                quotes.stop().await?;
                println!(
                    "round {round}/{}: {label:<24} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({})",
                    load.rounds,
                    measured.per_second(),
                    measured.quantile(0.5),
                    measured.quantile(0.99),
                    measured.statuses()
                );
                runs[i].push(measured);
            }
        }
        set_mode("ok").await?;
        pricing.stop().await?;

        println!(
            "\n{} s x {} rounds per mode, {} concurrent clients, GET /quote; \
             pricing timeout {TIMEOUT_MS} ms; breaker opens after {FAILURES} \
             consecutive failures, for {OPEN_MS} ms; telemetry off",
            load.seconds, load.rounds, load.concurrency
        );
        println!(
            "{:<24} {:>10} {:>10} {:>10}  responses",
            "mode", "requests/s", "p50 ms", "p99 ms"
        );
        let merged: Vec<Measured> = runs.iter().map(|r| Measured::merge(r)).collect();
        for ((label, _, _), m) in modes.iter().zip(&merged) {
            println!(
                "{label:<24} {:>10.0} {:>10.2} {:>10.2}  {}",
                m.per_second(),
                m.quantile(0.5),
                m.quantile(0.99),
                m.statuses()
            );
        }
        let (off, on) = (&merged[1], &merged[2]);
        println!(
            "hanging, on vs off: requests/s x{:.1}, p50 {:+.1} %, p99 {:+.1} %",
            on.per_second() / off.per_second(),
            (on.quantile(0.5) / off.quantile(0.5) - 1.0) * 100.0,
            (on.quantile(0.99) / off.quantile(0.99) - 1.0) * 100.0,
        );
        Ok(())
    })
}

/// `concurrency` workers, each sending `GET url` back to back for `seconds`.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    seconds: u64,
) -> Result<Measured> {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        workers.spawn(async move {
            let mut measured = Measured::default();
            while Instant::now() < until {
                let sent = Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                measured
                    .latencies_ms
                    .push(sent.elapsed().as_secs_f64() * 1e3);
                measured.requests += 1;
                *measured.statuses.entry(status).or_default() += 1;
            }
            anyhow::Ok(measured)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = workers.join_next().await {
        all.push(done.context("a load worker panicked")??);
    }
    let mut measured = Measured::merge(&all);
    // Every worker ran for the same wall time; count it once.
    measured.seconds = started.elapsed().as_secs_f64();
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let m = Measured {
            latencies_ms: (1..=100).map(f64::from).collect(),
            ..Measured::default()
        };
        assert_eq!(m.quantile(0.5), 50.0);
        assert_eq!(m.quantile(0.99), 99.0);
        assert_eq!(m.quantile(1.0), 100.0);
    }

    #[test]
    fn merging_adds_requests_and_statuses() {
        let one = Measured {
            requests: 2,
            seconds: 1.0,
            latencies_ms: vec![1.0, 2.0],
            statuses: BTreeMap::from([(200, 2)]),
        };
        let two = Measured {
            requests: 1,
            seconds: 1.0,
            latencies_ms: vec![3.0],
            statuses: BTreeMap::from([(200, 1)]),
        };
        let merged = Measured::merge(&[one, two]);
        assert_eq!(merged.requests, 3);
        assert_eq!(merged.per_second(), 1.5);
        assert_eq!(merged.statuses(), "200: 3");
    }
}
