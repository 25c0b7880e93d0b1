//! `cargo xtask bench circuit-breaker`: what a circuit breaker buys while a
//! downstream hangs. Release builds of `quotes` and `flaky-pricing`; pricing
//! is switched to `hang`, so every call that reaches it costs the caller's
//! timeout. The same load runs against `quotes` with the breaker off and on
//! (and, for reference, on with pricing healthy), alternating over rounds.
//! The load comes from clients in this process ([`load::workers`]), each
//! request timed and its status counted; `load`'s notes say why not wrk.

use std::time::Duration;

use anyhow::{Result, bail};

use super::load::{self, Load, Measured};

/// The timeout `quotes` gives pricing, the breaker's settings: the example's
/// defaults, written out so the report can state them.
const TIMEOUT_MS: &str = "250";
const FAILURES: &str = "3";
const OPEN_MS: &str = "5000";

pub async fn run(load: &Load, build: super::Build) -> Result<()> {
    load.check()?;
    let release = super::build(build, &["example-circuit-breaker"])?;
    // The breaker is measured, not the exporter.
    let quiet = [("OTEL_SDK_DISABLED", "true"), ("RUST_LOG", "error")];
    let client = reqwest::Client::new();
    let mut pricing =
        super::serve("pricing", &release.join("flaky-pricing"), &quiet).await?;
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
            let mut env = quiet.to_vec();
            env.extend([
                ("PRICING_URL", pricing.url.as_str()),
                ("PRICING_TIMEOUT_MS", TIMEOUT_MS),
                ("BREAKER", breaker),
                ("BREAKER_FAILURES", FAILURES),
                ("BREAKER_OPEN_MS", OPEN_MS),
            ]);
            let binary = release.join("example-circuit-breaker");
            let mut quotes = super::serve("quotes", &binary, &env).await?;
            let url = format!("{}/quote", quotes.url);
            let measured =
                load::workers(&url, load.concurrency, load.seconds).await?;
            quotes.process.stop(Duration::from_secs(20)).await?;
            println!(
                "round {round}/{}: {label:<24} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({})",
                load.rounds,
                measured.per_second(),
                measured.p50_ms,
                measured.p99_ms,
                measured.statuses()
            );
            runs[i].push(measured);
        }
    }
    set_mode("ok").await?;
    pricing.process.stop(Duration::from_secs(20)).await?;

    println!(
        "\n{} s x {} rounds per mode, {} concurrent clients, GET /quote; \
         pricing timeout {TIMEOUT_MS} ms; breaker opens after {FAILURES} \
         consecutive failures, for {OPEN_MS} ms; telemetry off; percentiles \
         are means over rounds",
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
            m.p50_ms,
            m.p99_ms,
            m.statuses()
        );
    }
    let (off, on) = (&merged[1], &merged[2]);
    println!(
        "hanging, on vs off: requests/s x{:.1}, p50 {:+.1} %, p99 {:+.1} %",
        on.per_second() / off.per_second(),
        (on.p50_ms / off.p50_ms - 1.0) * 100.0,
        (on.p99_ms / off.p99_ms - 1.0) * 100.0,
    );
    Ok(())
}
