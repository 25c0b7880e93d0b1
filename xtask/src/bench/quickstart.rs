//! `cargo xtask bench quickstart`: requests/s and latency of the axum
//! quickstart with telemetry on and off, the same release binary, in one run.

use std::time::Duration;

use anyhow::Result;

use super::load::{self, Load, Measured};
use crate::proc::Signal;

/// Builds the quickstart in release mode and measures it with telemetry off
/// (`OTEL_SDK_DISABLED=true`), on (OTLP/HTTP to the embedded collector, a
/// release build in a process of its own), and on with nothing listening at
/// the endpoint; alternating `rounds` times so that drift hits every mode
/// alike.
pub async fn run(load: &Load, build: super::Build) -> Result<()> {
    load.check()?;
    load::require_wrk()?;
    let release = super::build(build, &["example-axum-quickstart"])?;
    let binary = release.join("example-axum-quickstart");
    let (mut collector, endpoint) =
        super::start_collector(&super::collector_binary(build)?, None).await?;
    // A port that refuses connections: nothing listens there once dropped.
    let closed = format!(
        "http://{}",
        std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?
    );
    let modes: [(&str, [(&str, &str); 2]); 3] = [
        (
            "telemetry off",
            [("OTEL_SDK_DISABLED", "true"), ("RUST_LOG", "warn")],
        ),
        (
            "telemetry on",
            [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("RUST_LOG", "warn"),
            ],
        ),
        (
            "collector down",
            [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &closed),
                ("RUST_LOG", "warn"),
            ],
        ),
    ];
    let mut runs: [Vec<Measured>; 3] = Default::default();
    for round in 1..=load.rounds {
        for (i, (mode, env)) in modes.iter().enumerate() {
            let mut service = super::serve(mode, &binary, env).await?;
            let url = format!("{}/hello", service.url);
            // Warm-up: connections, allocator, the exporter's first batch.
            load::run(&url, load.concurrency, 1).await?;
            let measured = load::run(&url, load.concurrency, load.seconds).await?;
            service.process.stop(Duration::from_secs(20)).await?;
            println!(
                "round {round}/{}: {mode:<14} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
                load.rounds,
                measured.per_second(),
                measured.p50_ms,
                measured.p99_ms
            );
            runs[i].push(measured);
        }
    }
    // SIGINT (its Ctrl-C) makes it print its totals.
    collector.signal(Signal::Interrupt);
    // Read as it is printed: the process may exit before the pipe is read.
    let totals = collector
        .wait_for_line("received ", Duration::from_secs(20))
        .await
        .map(|rest| format!("received {rest}"))
        .unwrap_or_else(|e| format!("no totals printed ({e:#})"));
    collector.wait_exit(Duration::from_secs(20)).await?;
    let [off, on, down] = runs.map(|r| Measured::merge(&r));
    println!(
        "\nwrk: {} s x {} rounds per mode, {} connections, GET /hello; means over rounds",
        load.seconds, load.rounds, load.concurrency
    );
    println!(
        "{:<16} {:>12} {:>10} {:>10}",
        "mode", "requests/s", "p50 ms", "p99 ms"
    );
    for (mode, m) in [
        ("telemetry off", &off),
        ("telemetry on", &on),
        ("collector down", &down),
    ] {
        println!(
            "{mode:<16} {:>12.0} {:>10.2} {:>10.2}",
            m.per_second(),
            m.p50_ms,
            m.p99_ms
        );
    }
    for (label, m) in [("on / off", &on), ("down / off", &down)] {
        println!(
            "{label:<16} {:>11.2}x {:>9.2}x {:>9.2}x",
            m.per_second() / off.per_second(),
            m.p50_ms / off.p50_ms,
            m.p99_ms / off.p99_ms
        );
    }
    println!("the collector (telemetry-on runs): {totals}");
    Ok(())
}
