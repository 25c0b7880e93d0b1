//! The SIGTERM flush, for every example with a server: the scenario's first
//! request to one of the example's own processes, sent [`REQUESTS`] times,
//! then SIGTERM at once; every one of those requests' server spans must
//! arrive. The processes run with a batch delay of a minute
//! (`OTEL_BSP_SCHEDULE_DELAY`), so nothing leaves on the timer before the
//! signal: what arrives, the shutdown flushed.
//!
//! Each request carries a `traceparent` of its own, so its server span is
//! found by its trace id and parent, whatever the example names it; an
//! example that propagates another format (X-Ray's) makes it a root
//! instead, and then the roots are counted. Any status counts: a repeated request may be
//! refused (a rate limit's 429, a conflict's 409) and still be traced. An
//! example whose spans go to Datadog's agent, not to the collector, is not
//! checked here.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::judge::{Evidence, judge};
use super::runner::{Run, Session};
use super::spec::{Kind, Scenario, Traffic};
use super::traffic;
use crate::otlp::collector::Collector;
use crate::otlp::received::SpanRecord;
use crate::proc::{self, Attempt};
use crate::repo::Example;
use crate::services::{Need, Shared};

/// Requests per example.
pub const REQUESTS: usize = 50;
/// The batch delay the processes get: longer than the whole check.
const BATCH_DELAY_MS: &str = "60000";
/// How long the flushed spans may take to arrive after the exit.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(15);
/// The parent span id every request names: a caller that exports nothing.
pub const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// What a flush check found.
pub struct Flushed {
    pub process: String,
    pub requests: usize,
    pub arrived: usize,
    pub stop: Duration,
}

/// The request to repeat: the scenario's first to one of the example's own
/// servers (not an Envoy, which exports on a timer of its own), answered
/// with less than a 500, sent once, without waiting on a condition.
pub fn repeatable(scenario: &Scenario) -> Option<&Traffic> {
    let own = |name: Option<&str>| {
        let process = match name {
            None => scenario.process.first(),
            Some(name) => scenario.process.iter().find(|p| p.name == name),
        };
        process.is_some_and(|p| matches!(p.kind, Kind::Server { .. }))
    };
    scenario.traffic.iter().find(|t| {
        t.status < 500
            && t.until.is_none()
            && t.pause_ms.is_none()
            && own(t.to.as_deref())
    })
}

/// Runs the check: `None` when the scenario has no request to repeat.
pub async fn check(
    example: &Example,
    scenario: &Scenario,
    shared: &Shared,
) -> Result<Option<Flushed>> {
    let Some(request) = repeatable(scenario) else {
        return Ok(None);
    };
    if scenario.needs(Need::DatadogAgent) {
        return Ok(None);
    }
    let collector = Collector::start(0, 0).await?;
    let env = vec![(
        "OTEL_BSP_SCHEDULE_DELAY".to_owned(),
        BATCH_DELAY_MS.to_owned(),
    )];
    let run = Run::with_env(example, scenario, shared, env);
    let mut session = Session::default();
    let mut traces = BTreeSet::new();
    let sent = async {
        run.start(&collector, &mut session).await?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        for i in 0..REQUESTS {
            let trace_id = format!("{:016x}{:016x}", 0x005e_edf1_u64, i as u64 + 1);
            let traceparent = format!("00-{trace_id}-{CALLER_SPAN_ID}-01");
            traffic::send_one(&client, request, &session.servers, &traceparent)
                .await?;
            traces.insert(trace_id);
        }
        anyhow::Ok(())
    }
    .await;
    let stopping = Instant::now();
    let problems = session.stop_processes().await;
    let stop = stopping.elapsed();
    session.stop_all().await;
    sent?;
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let process = request
        .to
        .clone()
        .or_else(|| scenario.process.first().map(|p| p.name.clone()))
        .unwrap_or_default();
    let count = || flushed_spans(&collector.store.snapshot().spans, &traces);
    let arrived =
        proc::poll_until(ARRIVAL_DEADLINE, Duration::from_millis(50), || async {
            let arrived = count();
            Ok(if arrived >= REQUESTS {
                Attempt::Done(arrived)
            } else {
                Attempt::NotYet(format!(
                    "{arrived} of {REQUESTS} server spans arrived"
                ))
            })
        })
        .await
        .with_context(|| {
            format!(
                "{}: {REQUESTS} requests to {process}, then SIGTERM: the spans the \
             process held were not all flushed at its exit",
                example.slug
            )
        })?;
    let failures = judge(Evidence::Flush {
        sent: REQUESTS,
        arrived,
    })?;
    if !failures.is_empty() {
        bail!("{}: {}", example.slug, failures.join("; "));
    }
    Ok(Some(Flushed {
        process,
        requests: REQUESTS,
        arrived,
        stop,
    }))
}

/// How many of the requests' server spans (as [`flushed_spans`] counts
/// those of `trace`) have arrived, waiting up to [`ARRIVAL_DEADLINE`] for
/// `expected` of them: what is still short then was lost.
pub async fn arrived(collector: &Collector, trace: &str, expected: u64) -> usize {
    let traces = BTreeSet::from([trace.to_owned()]);
    let count = || flushed_spans(&collector.store.snapshot().spans, &traces);
    proc::poll_until(ARRIVAL_DEADLINE, Duration::from_millis(100), || async {
        let arrived = count();
        Ok(if arrived as u64 >= expected {
            Attempt::Done(arrived)
        } else {
            Attempt::NotYet(format!("{arrived} of {expected} server spans arrived"))
        })
    })
    .await
    .unwrap_or_else(|_| count())
}

/// The server spans of the requests sent: in one of `traces` as children
/// of the caller the requests named; or, when no span continued those
/// traces (the example reads another propagation format), the root server
/// spans. Downstream services' server spans have parents of their own, and
/// do not count; nor do other roots (a controller's watch requests, say)
/// once the requests' own spans are found.
pub fn flushed_spans(spans: &[SpanRecord], traces: &BTreeSet<String>) -> usize {
    // Distinct span ids: an export retried after its answer was lost
    // arrives twice, and must not count twice.
    let servers = || spans.iter().filter(|s| s.kind == "server");
    let ours: BTreeSet<&str> = servers()
        .filter(|s| {
            s.parent_span_id.as_deref() == Some(CALLER_SPAN_ID)
                && traces.contains(&s.trace_id)
        })
        .map(|s| s.span_id.as_str())
        .collect();
    if !ours.is_empty() {
        return ours.len();
    }
    servers()
        .filter(|s| s.parent_span_id.is_none())
        .map(|s| s.span_id.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::spec;

    #[test]
    fn only_the_requests_server_spans_count() {
        let traces = BTreeSet::from(["a".repeat(32)]);
        let mut ours =
            SpanRecord::test("GET /", "1111111111111111", Some(CALLER_SPAN_ID));
        ours.trace_id = "a".repeat(32);
        let mut client = ours.clone();
        client.kind = "client";
        let mut other_trace = ours.clone();
        other_trace.trace_id = "b".repeat(32);
        let mut child = ours.clone();
        child.parent_span_id = Some("1111111111111111".into());
        let mut root = ours.clone();
        root.parent_span_id = None;
        let spans = [ours.clone(), client, other_trace, child, root];
        // The request's own span; the unrelated root is not counted.
        assert_eq!(flushed_spans(&spans, &traces), 1);
        // The same span twice (an export retried): once.
        assert_eq!(flushed_spans(&[ours.clone(), ours.clone()], &traces), 1);
        assert_eq!(flushed_spans(&spans[1..4], &traces), 0);
        // No span continued the trace: the roots are the requests'.
        assert_eq!(flushed_spans(&spans[1..], &traces), 1);
    }

    #[test]
    fn the_request_is_the_first_to_one_of_the_examples_own_servers() {
        let scenario = |text: &str| spec::parse(text).unwrap();
        let base = r#"
            needs = ["envoy"]
            [[process]]
            name = "app"
            bin = "example-app"
            [[process]]
            name = "front"
            envoy = "envoy.yaml"
            [expect]
            services = ["app"]
        "#;
        let with = |traffic: &str| scenario(&format!("{base}{traffic}"));
        let picked = with(
            "[[traffic]]\nto = \"front\"\npath = \"/a\"\nstatus = 200\n\
             [[traffic]]\npath = \"/b\"\nstatus = 503\n\
             [[traffic]]\npath = \"/c\"\nstatus = 404\n",
        );
        assert_eq!(repeatable(&picked).map(|t| t.path.as_str()), Some("/c"));
        let none =
            with("[[traffic]]\nto = \"front\"\npath = \"/a\"\nstatus = 200\n");
        assert!(repeatable(&none).is_none());
        assert!(repeatable(&scenario(base)).is_none());
    }
}
