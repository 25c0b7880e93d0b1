//! Bad configuration, for every example's binaries: each binary a scenario
//! starts is run once per entry of [`MALFORMED`] (and a server's once per
//! entry of [`SERVER_MALFORMED`]), with that one variable malformed, and
//! must exit with code 1 within [`LIMIT`], its output naming the variable,
//! without a panic. The values are the mistakes people make: a unit after a
//! number, an endpoint without its scheme, a full URL in the base variable,
//! a sampler this SDK does not implement, `HOST=localhost`.
//!
//! Nothing else is started: no collector, no database. So an example must
//! read its configuration before it connects anywhere; one that waits for a
//! database first fails here, naming the database instead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use super::judge::{Evidence, Refusal, judge};
use super::spec::{Kind, Scenario};
use crate::proc;
use crate::repo::{self, Example};

/// How long a binary may take to refuse its configuration.
pub const LIMIT: Duration = Duration::from_secs(10);

/// One malformed value per kind of check the generated telemetry module
/// makes, each on a variable people set.
pub const MALFORMED: &[(&str, &str)] = &[
    ("OTEL_SDK_DISABLED", "yes"),
    ("OTEL_TRACES_EXPORTER", "zipkin"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://collector:4318/v1/traces",
    ),
    ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
    (
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "deltas",
    ),
    ("OTEL_RESOURCE_ATTRIBUTES", "team"),
    ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
    ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "1m"),
    ("OTEL_SPAN_EVENT_COUNT_LIMIT", "many"),
    ("RUST_LOG", "=debug"),
    ("RUST_LOG_EXPORT", "info,["),
];

/// For a server (a process that listens): its address.
pub const SERVER_MALFORMED: &[(&str, &str)] = &[
    ("PORT", "seventy"),
    ("PORT", "65536"),
    ("HOST", "localhost"),
];

/// What the check found for one example.
pub struct Refused {
    pub binaries: usize,
    pub runs: usize,
    pub slowest: Duration,
}

/// Runs the check for an example with the generated telemetry module;
/// `None` for one without it.
pub async fn check(
    example: &Example,
    scenario: &Scenario,
) -> Result<Option<Refused>> {
    let mut runs = Vec::new();
    let mut binaries = 0;
    for process in &scenario.process {
        let Some(bin) = process.bin() else { continue };
        // The binary's own package: one inside the example (Datadog's
        // native-exporter service) may lack the generated modules.
        let package = package_dir(example, bin)?;
        let telemetry = package.join("src/telemetry.rs").exists();
        // A server of the book's own set-up: the generated server module's
        // `listen`, or (Rocket) the same reading of `HOST` and `PORT`.
        let server = matches!(process.kind, Kind::Server { .. }) && telemetry;
        let cases = MALFORMED
            .iter()
            .filter(|_| telemetry)
            .chain(SERVER_MALFORMED.iter().filter(|_| server));
        let before = runs.len();
        for &(variable, value) in cases {
            runs.push((bin.to_owned(), server, variable, value));
        }
        binaries += usize::from(runs.len() > before);
    }
    if runs.is_empty() {
        return Ok(None);
    }
    let total = runs.len();
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    // Two at a time: one per core, as the rest of verify.
    let mut pending = runs.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < 2 {
            let Some((bin, server, variable, value)) = pending.next() else {
                break;
            };
            running.spawn(async move {
                let outcome = run_once(&bin, server, variable, value).await;
                (bin, variable, value, outcome)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (bin, variable, value, outcome) =
            joined.context("a misconfiguration run")?;
        let exit = outcome?;
        slowest = slowest.max(exit.took);
        let evidence = Evidence::Refusal {
            variable,
            value,
            refusal: &exit,
            limit: LIMIT,
        };
        for why in judge(evidence)? {
            failures.push(format!("  {bin} with {variable}={value:?}: {why}"));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{}: a malformed variable must stop a binary at start, exit 1 and name \
             the variable (the generated telemetry module's `check_variables`, the \
             server module's `listen`); read the configuration before connecting \
             anywhere:\n{}",
            example.slug,
            failures.join("\n")
        );
    }
    Ok(Some(Refused {
        binaries,
        runs: total,
        slowest,
    }))
}

/// The directory of the package that builds `bin`: a package of its own
/// inside the example's directory, if one is named so, else the example's.
fn package_dir(example: &Example, bin: &str) -> Result<PathBuf> {
    let entries = std::fs::read_dir(&example.dir)
        .with_context(|| format!("reading {}", example.dir.display()))?;
    for entry in entries {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let parsed: toml::Table = toml::from_str(&text)
            .with_context(|| format!("parsing {}", manifest.display()))?;
        let name = parsed
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str());
        if name == Some(bin) {
            return Ok(manifest.parent().unwrap_or(&example.dir).to_path_buf());
        }
    }
    Ok(example.dir.clone())
}

async fn run_once(
    bin: &str,
    server: bool,
    variable: &str,
    value: &str,
) -> Result<Refusal> {
    let program = repo::target_dir().join("debug").join(bin);
    let mut command = command(&program, server);
    command.env(variable, value);
    let started = Instant::now();
    match proc::run_to_exit(bin, &mut command, LIMIT).await {
        Ok(finished) => Ok(Refusal {
            code: finished.status.code(),
            timed_out: false,
            output: finished.printed(),
            took: started.elapsed(),
        }),
        // Killed at the limit: a binary that starts instead of refusing.
        Err(error) if error.is::<proc::TimedOut>() => Ok(Refusal {
            code: None,
            timed_out: true,
            output: String::new(),
            took: started.elapsed(),
        }),
        Err(error) => Err(error),
    }
}

/// The binary with the xtask's environment, less every variable a case
/// sets (so that only the malformed one is in play), and a free port for a
/// server that wrongly starts. `proc::run_to_exit` runs it (its output
/// captured, the telemetry variables it inherits dropped, killed at the
/// limit).
fn command(program: &Path, server: bool) -> Command {
    let mut command = Command::new(program);
    command.env_remove("PORT").env_remove("HOST");
    proc::without_inherited_telemetry(&mut command);
    if server {
        command.env("PORT", "0");
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_one_the_template_checks_or_the_server_reads() {
        let template = [
            include_str!("../../templates/telemetry.rs"),
            include_str!("../../templates/telemetry_config.rs"),
        ]
        .concat();
        let server = include_str!("../../templates/server.rs");
        for (variable, _) in MALFORMED {
            assert!(
                template.contains(&format!("\"{variable}\"")),
                "{variable} is not in the telemetry templates"
            );
        }
        for (variable, _) in SERVER_MALFORMED {
            assert!(server.contains(&format!("\"{variable}\"")), "{variable}");
        }
    }
}
