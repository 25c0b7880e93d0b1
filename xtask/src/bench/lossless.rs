//! `cargo xtask bench lossless <slug>`: the highest request rate at which
//! an example loses no span. Its scenario's processes (release builds, the
//! book's batch settings, the embedded collector) take the request the flush
//! check repeats (the scenario's first to one of the example's own servers)
//! from `oha` at a fixed rate, then SIGTERM. A rate is held without loss
//! when every answered request's server span arrived (each carries the same
//! `traceparent`, so the spans are told apart from any others the example
//! makes) and no batch processor reports a drop at shutdown. The rate
//! doubles from `--from` until a run loses a span, `oha` cannot hold the
//! rate, or `--up-to` is passed.
//!
//! On a machine of two cores the service, its collector and the load share
//! them: the figure is that machine's, a floor, not the service's ceiling.

use anyhow::{Context as _, Result, bail};

use super::{Build, rate};
use crate::otlp::collector::Collector;
use crate::repo;
use crate::scenario::flush::{self, CALLER_SPAN_ID};
use crate::scenario::runner::{Run, Session};
use crate::scenario::{spec, traffic};
use crate::services::{self, Need};

/// The trace every request of the load names as its caller's.
const TRACE_ID: &str = "10551e55000000000000000000000001";

/// One rate's run.
struct Step {
    rate: u64,
    answered: u64,
    arrived: usize,
    dropped: u64,
    p99_ms: f64,
}

impl Step {
    /// Every answered request's span, and no other, arrived; nothing was
    /// dropped. `oha` waits for the requests in flight at the end,
    /// so every request the service traced was answered and counted; more
    /// spans than requests would be a miscount, and fails too.
    fn lossless(&self) -> bool {
        self.arrived as u64 == self.answered && self.dropped == 0
    }

    fn verdict(&self) -> &'static str {
        match (self.arrived as u64).cmp(&self.answered) {
            _ if self.dropped > 0 => "LOST",
            std::cmp::Ordering::Less => "LOST",
            std::cmp::Ordering::Greater => "MISCOUNTED: more spans than requests",
            std::cmp::Ordering::Equal => "nothing lost",
        }
    }
}

pub async fn run(
    slug: &str,
    from: u64,
    up_to: u64,
    seconds: u64,
    build: Build,
) -> Result<()> {
    let example = repo::examples()?
        .into_iter()
        .find(|e| e.slug == slug)
        .with_context(|| {
            format!("no example {slug:?} (the directories of examples/)")
        })?;
    if from == 0 || from > up_to {
        bail!("--from {from} must be at least 1 and at most --up-to {up_to}");
    }
    let scenario = spec::load(&example.scenario_path())?;
    let Some(request) = flush::repeatable(&scenario) else {
        bail!(
            "{slug}: its scenario sends no request to one of its own servers that can \
             be repeated (a job, a desktop app, or requests only through Envoy)"
        );
    };
    if scenario.needs(Need::DatadogAgent) {
        bail!("{slug}: its spans go to Datadog's agent, not to the collector");
    }
    super::build(build, &[&example.package])?;
    let oha = rate::oha(build)?;
    let shared = services::Shared::default();
    println!(
        "{slug}: {} {} at a fixed rate for {seconds} s, then SIGTERM; rates double from \
         {from} req/s",
        request.method.as_str(),
        request.path
    );
    let mut steps = Vec::new();
    let mut rate = from;
    while rate <= up_to {
        let run = Run::live(&example, &scenario, &shared);
        let run = match build {
            Build::Release => run.release(),
            Build::Debug => run,
        };
        match one_rate(&run, request, &oha, rate, seconds).await? {
            Some(step) => {
                println!(
                    "  {:>6} req/s: {} answered, {} server spans arrived, {} dropped by \
                     the SDK, p99 {:.2} ms: {}",
                    step.rate,
                    step.answered,
                    step.arrived,
                    step.dropped,
                    step.p99_ms,
                    step.verdict()
                );
                let lossless = step.lossless();
                steps.push(step);
                if !lossless {
                    break;
                }
            }
            None => break,
        }
        rate *= 2;
    }
    match steps.iter().filter(|s| s.lossless()).map(|s| s.rate).max() {
        Some(best) => {
            println!("{slug}: nothing lost up to {best} req/s on this machine")
        }
        None => bail!("{slug}: spans were lost at {from} req/s already"),
    }
    Ok(())
}

/// The processes at one rate, under load, stopped; `None` when `oha` could
/// not hold the rate or requests failed.
async fn one_rate(
    run: &Run<'_>,
    request: &spec::Traffic,
    oha: &std::path::Path,
    rate: u64,
    seconds: u64,
) -> Result<Option<Step>> {
    let collector = Collector::start(0, 0).await?;
    let mut session = Session::default();
    let loaded = async {
        run.start(&collector, &mut session).await?;
        let (_, base) = traffic::server(&session.servers, request.to.as_deref())?;
        let url = format!("{base}{}", request.path);
        let mut arguments =
            vec!["-m".to_owned(), request.method.as_str().to_owned()];
        let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01");
        for (name, value) in
            [("traceparent", traceparent.as_str())].into_iter().chain(
                request
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
            )
        {
            arguments.extend(["-H".to_owned(), format!("{name}: {value}")]);
        }
        if let Some(body) = &request.body {
            arguments.extend(["-d".to_owned(), body.clone()]);
        }
        let load = rate::Fixed {
            url: &url,
            rate,
            connections: 16,
            seconds,
            cpus: "0-1",
            request: &arguments,
        };
        anyhow::Ok(load.run_counted(oha).await)
    }
    .await;
    let problems = session.stop_processes().await;
    // The batch processors' warnings of what they dropped come at shutdown.
    let outputs: Vec<String> = session
        .servers
        .iter()
        .flat_map(|s| s.process.output_lines())
        .collect();
    session.stop_all().await;
    let measured = match loaded? {
        Ok(measured) => measured,
        // Saturated, or requests failing under the load: not held.
        Err(error) => {
            println!("  {rate:>6} req/s: not held: {error:#}");
            return Ok(None);
        }
    };
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let dropped = super::overhead::dropped(&outputs).spans;
    let answered = measured.requests;
    // Wait for what is still on its way; a shortfall after that is a loss.
    let arrived = flush::arrived(&collector, TRACE_ID, answered).await;
    Ok(Some(Step {
        rate,
        answered,
        arrived,
        dropped,
        p99_ms: measured.p99_ms,
    }))
}
