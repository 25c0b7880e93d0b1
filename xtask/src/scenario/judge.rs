//! The judge: every verdict of the scenarios step goes through [`judge`].
//! What was expected or required goes in beside what happened (an
//! [`Evidence`]); what is missing or wrong comes out, one message each, and
//! an empty list passes. Nothing here starts, waits for or stops anything:
//! the runner, the flush check, the misconfiguration check and the cases
//! gather the evidence, and the docker stack's runs feed the same rules as
//! the embedded collector's.
//!
//! The rules: the `[expect]` of a scenario ([`expect`]), the names that
//! arrived against the semantic conventions ([`semconv::check`]),
//! Prometheus's answers to `[[expect.promql]]`, the flush count, a
//! malformed variable's refusal, and a case of `cases.toml`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::expect::{self, Observed, Visible};
use super::spec::cases::{Case, Exit};
use super::spec::{Expect, PromqlExpectation, Scenario};
use crate::otlp::received::Received;
use crate::semconv;
use crate::semconv::registry::Registry;

/// What one verdict is about.
pub enum Evidence<'a> {
    /// A run's telemetry against the scenario's `[expect]`, as far as the
    /// source of it can show.
    Telemetry {
        expect: &'a Expect,
        received: &'a Received,
        observed: &'a Observed,
        visible: Visible,
    },
    /// Every attribute key and metric name that arrived, against the
    /// checked-in registry of the semantic conventions and the scenario's
    /// `own_attributes` (a `third_party` service's names are its own).
    Names {
        received: &'a Received,
        scenario: &'a Scenario,
    },
    /// Prometheus's answers (each query's series: labels and value, in
    /// order) against `[[expect.promql]]`.
    PromQl {
        expectations: &'a [PromqlExpectation],
        answers: &'a [Vec<(BTreeMap<String, String>, f64)>],
    },
    /// The flush check: the server spans that arrived after SIGTERM, for
    /// the requests sent before it.
    Flush { sent: usize, arrived: usize },
    /// A binary started with one malformed variable, which it must refuse
    /// within `limit`.
    Refusal {
        variable: &'a str,
        value: &'a str,
        refusal: &'a Refusal,
        limit: Duration,
    },
    /// One program of `cases.toml`, run once.
    Case { case: &'a Case, run: &'a CaseRun },
}

/// How a binary given a malformed variable ended: `code` is `None` if it
/// was still running at the limit (then killed) or ended on a signal.
#[derive(Debug)]
pub struct Refusal {
    pub code: Option<i32>,
    pub timed_out: bool,
    pub output: String,
    pub took: Duration,
}

/// What one program of `cases.toml` did.
pub struct CaseRun {
    pub exit: Exit,
    pub spans: usize,
    /// The line that matched `output`, with the collector's ports normalised.
    pub line: Option<String>,
    pub seconds: f64,
}

/// What is missing or wrong; empty when the evidence passes. An error only
/// when a rule's own ground is missing (the registry cannot be read).
pub fn judge(evidence: Evidence<'_>) -> Result<Vec<String>> {
    Ok(match evidence {
        Evidence::Telemetry {
            expect,
            received,
            observed,
            visible,
        } => expect::check(expect, received, observed, visible),
        Evidence::Names { received, scenario } => semconv::check::check(
            &Registry::load()?,
            received,
            &scenario.own_attributes,
            &scenario.third_party,
        ),
        Evidence::PromQl {
            expectations,
            answers,
        } => expect::promql_failures(expectations, answers),
        Evidence::Flush { sent, arrived } if sent == arrived => Vec::new(),
        Evidence::Flush { sent, arrived } => {
            vec![format!("{arrived} server spans for {sent} requests")]
        }
        Evidence::Refusal {
            variable,
            value,
            refusal,
            limit,
        } => refused(variable, value, refusal, limit)
            .err()
            .into_iter()
            .collect(),
        Evidence::Case { case, run } => case_problems(case, run),
    })
}

/// `Err` says what was wrong with how the binary took the bad value. The
/// error must quote it as both generated modules do, `VARIABLE="value"`: a
/// mere mention of the name (`PORT` inside `OTEL_EXPORTER_OTLP_...`) is not
/// one.
fn refused(
    variable: &str,
    value: &str,
    exit: &Refusal,
    limit: Duration,
) -> Result<(), String> {
    let last_lines = || {
        let lines: Vec<&str> = exit.output.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    };
    if exit.timed_out {
        return Err(format!(
            "still running after {limit:?}: the value was not refused"
        ));
    }
    if exit.output.contains("panicked at") {
        return Err(format!("it panicked: {}", last_lines()));
    }
    match exit.code {
        Some(1) => {}
        Some(code) => {
            return Err(format!("exit code {code}, not 1: {}", last_lines()));
        }
        None => return Err(format!("ended by a signal: {}", last_lines())),
    }
    if !quotes(&exit.output, &format!("{variable}={value:?}")) {
        return Err(format!(
            "its error does not name {variable}: {}",
            last_lines()
        ));
    }
    Ok(())
}

/// Whether `output` holds `needle` as a whole name: not as the tail of a
/// longer one (`PORT="x"` inside `EXPORT="x"`).
fn quotes(output: &str, needle: &str) -> bool {
    output.match_indices(needle).any(|(at, _)| {
        output[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    })
}

/// What differs from the case's expectations, one message each.
fn case_problems(case: &Case, run: &CaseRun) -> Vec<String> {
    let mut problems = Vec::new();
    if run.exit != case.exit {
        problems.push(format!(
            "expected exit {}, got {}",
            case.exit.word(),
            run.exit.word()
        ));
    }
    if run.spans != case.spans {
        problems.push(format!(
            "expected {} span(s) at the collector, got {}",
            case.spans, run.spans
        ));
    }
    if let Some(wanted) = &case.output
        && run.line.is_none()
    {
        problems.push(format!(
            "expected a line containing {wanted:?}; none printed"
        ));
    }
    if let Some(min) = case.min_seconds
        && run.seconds < min
    {
        problems.push(format!(
            "expected to run at least {min}s, ran {:.1}s",
            run.seconds
        ));
    }
    if let Some(max) = case.max_seconds
        && run.seconds > max
    {
        problems.push(format!(
            "expected to run at most {max}s, ran {:.1}s",
            run.seconds
        ));
    }
    problems
}

#[cfg(test)]
mod tests;
