//! Load at a fixed request rate: `oha -q`, pinned and installed into
//! `target/tools` on first use. At saturation a service's CPU time per
//! request depends on how many requests each wake-up finds (fewer at a
//! lower rate), so modes of different cost are compared fairly only at the
//! same rate, below every mode's saturation. Latencies are corrected for
//! coordinated omission (`--latency-correction`): a request that waited
//! for a slow one counts from when it should have been sent.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use tokio::process::Command;

use super::load::Measured;
use crate::proc;
use crate::tools::CargoTool;

const OHA: CargoTool = CargoTool {
    krate: "oha",
    version: Cow::Borrowed("1.16.0"),
    binary: "oha",
    locked: true,
    // The benches speak plain HTTP to 127.0.0.1, but oha builds only with
    // a TLS stack: the system's OpenSSL (headers from `libssl-dev`), not
    // its default rustls, whose aws-lc C library takes minutes to build.
    features: &["native-tls"],
    default_features: false,
    release: true,
};

/// The pinned `oha`, installed first if it is not: optimised for a
/// measurement, a debug build for a smoke run, where it sends a second of
/// load and its speed is not judged (it builds in a fraction of the time,
/// and into a directory of its own, so a measurement never uses it).
pub fn oha(build: super::Build) -> Result<PathBuf> {
    oha_tool(build).install()
}

/// The pinned `oha` for `build`, not installed yet.
pub fn oha_tool(build: super::Build) -> CargoTool {
    CargoTool {
        release: build == super::Build::Release,
        ..OHA
    }
}

/// `GET url` at `rate` requests/s over `connections` for `seconds`, from
/// `oha` held to `cpus`. Refused when any request failed or answered other
/// than 2xx, or when oha could not hold the rate.
pub async fn run(
    oha: &std::path::Path,
    url: &str,
    rate: u64,
    connections: usize,
    seconds: u64,
    cpus: &str,
) -> Result<Measured> {
    let load = Fixed {
        url,
        rate,
        connections,
        seconds,
        cpus,
        request: &[],
    };
    let json = load.send(oha, &[]).await?;
    parse(&json, rate, connections, Statuses::Success)
}

/// Load at a fixed rate, with the request's method, headers and body as
/// oha's arguments (`-m POST`, `-H name:value`, `-d body`).
pub struct Fixed<'a> {
    pub url: &'a str,
    pub rate: u64,
    pub connections: usize,
    pub seconds: u64,
    pub cpus: &'a str,
    pub request: &'a [String],
}

impl Fixed<'_> {
    async fn send(&self, oha: &std::path::Path, extra: &[&str]) -> Result<String> {
        let finished = proc::run_to_exit(
            "oha",
            Command::new("taskset")
                .args(["-c", self.cpus])
                .arg(oha)
                .args([
                    "--no-tui",
                    "--latency-correction",
                    "--output-format",
                    "json",
                ])
                .arg(format!("-q{}", self.rate))
                .arg(format!("-c{}", self.connections))
                .arg(format!("-z{}s", self.seconds))
                .args(extra)
                .args(self.request)
                .arg(self.url),
            Duration::from_secs(self.seconds + 60),
        )
        .await?;
        if !finished.status.success() {
            bail!("oha failed ({}):\n{}", finished.status, finished.stderr);
        }
        Ok(finished.stdout)
    }

    /// For a bench that compares the requests with what the service
    /// traced: the requests in flight at the end are awaited, not cut
    /// (`-w`), so that each one the service traced is also one answered;
    /// every status is accepted and counted (a repeated request may be
    /// refused, and is still a request).
    pub async fn run_counted(&self, oha: &std::path::Path) -> Result<Measured> {
        let json = self.send(oha, &["-w"]).await?;
        parse(&json, self.rate, self.connections, Statuses::Any)
    }
}

/// Which statuses a run may answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Statuses {
    Success,
    Any,
}

#[derive(Deserialize)]
struct Report {
    summary: Summary,
    #[serde(rename = "latencyPercentiles")]
    percentiles: Percentiles,
    #[serde(rename = "statusCodeDistribution")]
    statuses: std::collections::BTreeMap<String, u64>,
    #[serde(rename = "errorDistribution")]
    errors: std::collections::BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct Summary {
    total: f64,
    #[serde(rename = "requestsPerSec")]
    per_second: f64,
}

#[derive(Deserialize)]
struct Percentiles {
    p50: Option<f64>,
    p99: Option<f64>,
}

/// How far below the asked rate a run may fall and still count.
const RATE_TOLERANCE: f64 = 0.02;

/// What oha calls a request still in flight when the duration ends, cut
/// by oha itself, not failed by the service: oha 1.16 aborts every worker
/// at the deadline, idle ones too, so up to one per connection (none with
/// `-w`, which awaits them).
const CUT_AT_THE_END: &str = "aborted due to deadline";

fn parse(
    json: &str,
    rate: u64,
    connections: usize,
    allowed: Statuses,
) -> Result<Measured> {
    let mut report: Report = serde_json::from_str(json)
        .context("oha's JSON report has an unknown shape")?;
    if report
        .errors
        .get(CUT_AT_THE_END)
        .is_some_and(|&n| n <= connections as u64)
    {
        report.errors.remove(CUT_AT_THE_END);
    }
    if !report.errors.is_empty() {
        bail!("requests failed at {rate} req/s: {:?}", report.errors);
    }
    let mut statuses = std::collections::BTreeMap::new();
    for (status, n) in report.statuses {
        let code: u16 = status
            .parse()
            .with_context(|| format!("oha reported a status {status:?}"))?;
        if allowed == Statuses::Success && !(200..300).contains(&code) {
            bail!("{n} requests answered {code} at {rate} req/s");
        }
        statuses.insert(code, n);
    }
    let achieved = report.summary.per_second;
    if achieved < rate as f64 * (1.0 - RATE_TOLERANCE) {
        bail!(
            "oha sent {achieved:.0} req/s where {rate} were asked: the service (or the \
             load's CPU) is saturated; ask for a lower --rate"
        );
    }
    let (Some(p50), Some(p99)) = (report.percentiles.p50, report.percentiles.p99)
    else {
        bail!("oha reported no latencies: no request completed");
    };
    Ok(Measured {
        requests: statuses.values().sum(),
        seconds: report.summary.total,
        p50_ms: p50 * 1e3,
        p99_ms: p99 * 1e3,
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(per_second: f64, statuses: &str, errors: &str) -> String {
        format!(
            r#"{{"summary": {{"successRate": 1.0, "total": 3.0, "requestsPerSec": {per_second}}},
               "latencyPercentiles": {{"p50": 0.000148, "p99": 0.000555}},
               "statusCodeDistribution": {statuses},
               "errorDistribution": {errors}}}"#
        )
    }

    #[test]
    fn reads_a_run_that_held_its_rate() {
        let measured = parse(
            &report(19_980.7, r#"{"200": 59977}"#, "{}"),
            20_000,
            16,
            Statuses::Success,
        )
        .unwrap();
        assert_eq!(measured.requests, 59_977);
        assert!((measured.p50_ms - 0.148).abs() < 1e-9);
        assert!((measured.p99_ms - 0.555).abs() < 1e-9);
    }

    #[test]
    fn refuses_a_run_below_its_rate() {
        let error = parse(
            &report(15_000.0, r#"{"200": 45000}"#, "{}"),
            20_000,
            16,
            Statuses::Success,
        )
        .unwrap_err();
        assert!(error.to_string().contains("saturated"), "{error}");
    }

    #[test]
    fn refuses_errors_and_non_success_statuses() {
        let ok = r#"{"200": 60000}"#;
        let failed = r#"{"connection refused": 3}"#;
        assert!(
            parse(&report(20_000.0, ok, failed), 20_000, 16, Statuses::Success)
                .is_err()
        );
        let statuses = r#"{"200": 59000, "500": 1000}"#;
        assert!(
            parse(
                &report(20_000.0, statuses, "{}"),
                20_000,
                16,
                Statuses::Success
            )
            .is_err()
        );
        assert!(
            parse(&report(20_000.0, statuses, "{}"), 20_000, 16, Statuses::Any)
                .is_ok()
        );
        assert!(parse("not json", 20_000, 16, Statuses::Success).is_err());
    }

    #[test]
    fn requests_cut_at_the_end_count_only_up_to_one_per_connection() {
        let ok = r#"{"200": 60000}"#;
        let cut = r#"{"aborted due to deadline": 6}"#;
        assert!(
            parse(&report(20_000.0, ok, cut), 20_000, 16, Statuses::Success).is_ok()
        );
        let too_many = r#"{"aborted due to deadline": 17}"#;
        assert!(
            parse(
                &report(20_000.0, ok, too_many),
                20_000,
                16,
                Statuses::Success
            )
            .is_err()
        );
    }
}
