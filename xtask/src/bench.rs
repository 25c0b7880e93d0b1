//! `cargo xtask bench <target>`: measurements the book quotes, each a
//! command. Release builds; the load benches share `load` (wrk, or clients
//! in this process) and its one result type.

pub mod bevy;
pub mod breaker;
pub mod cli;
pub mod collector;
pub mod faults;
pub mod load;
pub mod lossless;
pub mod operator;
pub mod overhead;
pub mod polars;
pub mod profile;
pub mod quickstart;
pub mod rate;

use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::process::Command;

use crate::proc::{Running, Signal};
use crate::scenario::runner;
use crate::scenario::traffic::Server;
use crate::{builds, proc, repo};

/// What a bench measures: release builds, for the figures; or debug
/// builds, for the smoke run CI makes so that a broken bench fails it (its
/// numbers mean nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Release,
    Debug,
}

/// Builds these packages' binaries and returns the directory they are in.
pub fn build(build: Build, packages: &[&str]) -> Result<PathBuf> {
    build_with(build, packages, &[])
}

/// As [`build`], with cargo features (`package/feature`). A debug build (a
/// smoke run) is the workspace's one debug build ([`builds::binaries`]),
/// which already turns on every feature a bench asks for.
pub fn build_with(
    build: Build,
    packages: &[&str],
    features: &[&str],
) -> Result<PathBuf> {
    if build == Build::Debug {
        if let Some(missing) =
            features.iter().find(|f| !builds::FEATURES.contains(f))
        {
            anyhow::bail!(
                "the debug build of the workspace lacks {missing}: add it to builds::FEATURES"
            );
        }
        let packages: Vec<String> =
            packages.iter().map(|p| (*p).to_owned()).collect();
        builds::binaries(None, &repo::binaries_of(&packages)?)?;
        return Ok(repo::target_dir().join("debug"));
    }
    let mut args = vec!["build", "--locked", "--bins", "--release"];
    for package in packages {
        args.extend(["--package", package]);
    }
    for feature in features {
        args.extend(["--features", feature]);
    }
    proc::run("cargo", &args)?;
    Ok(repo::target_dir().join("release"))
}

/// The collector a bench runs: a release build of the xtask, built here;
/// in a smoke run, this very binary. Building the debug xtask beside other
/// packages could unify their dependencies' features differently and
/// relink the binary that is running.
pub fn collector_binary(build: Build) -> Result<PathBuf> {
    match build {
        Build::Release => Ok(self::build(Build::Release, &["xtask"])?.join("xtask")),
        Build::Debug => Ok(std::env::current_exe()?),
    }
}

/// Starts a release binary of the book on a free port with `env`, and
/// waits until it listens.
pub async fn serve(
    name: &str,
    binary: &Path,
    env: &[(&str, &str)],
) -> Result<Server> {
    let mut command = Command::new(binary);
    command
        .env("PORT", "0")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    runner::serve(name, &mut command).await
}

/// This machine, as the book states it beside a figure: cores, CPU model,
/// kernel, system.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("an unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let system = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|n| n.trim_matches('"').to_owned())
        .unwrap_or_default();
    format!("{cores} × {model}, Linux {kernel}, {system}")
}

/// The commit measured, `+changes` when the work tree differs from it.
pub fn commit() -> Result<String> {
    let root = repo::root();
    let root = root.to_string_lossy();
    let head = proc::output(std::process::Command::new("git").args([
        "-C",
        &root,
        "rev-parse",
        "--short",
        "HEAD",
    ]))?;
    let status = proc::output(std::process::Command::new("git").args([
        "-C",
        &root,
        "status",
        "--porcelain",
    ]))?;
    let changed = if status.trim().is_empty() {
        ""
    } else {
        "+changes"
    };
    Ok(format!("{}{changed}", head.trim()))
}

/// Today, UTC, as `YYYY-MM-DD`.
pub fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10]
        .to_owned()
}

/// Refuses to measure unless this machine has two CPUs and `taskset`, to
/// hold `one` to the first and `other` to the second.
pub fn require_two_cpus(one: &str, other: &str) -> Result<()> {
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        anyhow::bail!("this bench needs two CPUs: one for {one}, one for {other}");
    }
    if crate::tools::on_path("taskset").is_none() {
        anyhow::bail!(
            "`taskset` is not installed (Debian/Ubuntu: apt-get install util-linux)"
        );
    }
    Ok(())
}

/// A release build of `xtask collector --quiet` (a debug build in this
/// process could be the bottleneck), held to `cpus` when given, and its
/// OTLP/HTTP endpoint.
pub async fn start_collector(
    xtask: &Path,
    cpus: Option<&str>,
) -> Result<(Running, String)> {
    let mut command = match cpus {
        Some(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", cpus]).arg(xtask);
            taskset
        }
        None => Command::new(xtask),
    };
    command.args([
        "collector",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--quiet",
    ]);
    let mut collector = Running::spawn("collector", &mut command)?;
    let line = collector
        .wait_for_line("OTLP/HTTP on ", Duration::from_secs(10))
        .await?;
    let endpoint = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((collector, endpoint))
}

/// What the collector received over its life.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub spans: u64,
    pub log_records: u64,
}

impl Totals {
    /// Reads `received N spans, M metric streams, L log records in R
    /// requests`, the line `xtask collector` prints when it stops.
    fn parse(line: &str) -> Option<Totals> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let before = |word: &str| {
            let at = words.iter().position(|w| w.trim_end_matches(',') == word)?;
            words.get(at.checked_sub(1)?)?.parse().ok()
        };
        Some(Totals {
            spans: before("spans")?,
            log_records: words
                .windows(3)
                .find(|w| w[1] == "log" && w[2].starts_with("records"))
                .and_then(|w| w[0].parse().ok())?,
        })
    }
}

/// Stops the collector (Ctrl-C makes it print its totals) and returns
/// what it received.
pub async fn stop_collector(collector: &mut Running) -> Result<Totals> {
    collector.signal(Signal::Interrupt);
    // Read as it is printed: the process may have exited before its last
    // lines were read from the pipe.
    let totals = collector
        .wait_for_line("received ", Duration::from_secs(20))
        .await?;
    collector.wait_exit(Duration::from_secs(20)).await?;
    Totals::parse(&totals)
        .with_context(|| format!("cannot read the collector's totals in {totals:?}"))
}

/// The benches the verify step runs, in order; `profile` follows where
/// `perf` can sample.
const SMOKED: &[&str] = &[
    "quickstart",
    "overhead",
    "collector",
    "circuit-breaker",
    "polars",
    "bevy",
    "kube-operator",
    "lossless",
    "faults",
];

/// The verify step `benches`: every bench once with `--smoke` (debug
/// builds, a second of load), each in a process of its own, since some
/// hold their process to one CPU. A bench that fails fails the step; no
/// figure is judged. `bench profile` needs `perf`, which Debian and Ubuntu
/// package under different, kernel-bound names: where it cannot sample,
/// the step says so and runs the rest.
pub fn smoke() -> Result<crate::tools::Outcome> {
    use crate::tools::Outcome;
    if let Err(missing) = load::require_wrk() {
        return Ok(Outcome::Skipped(missing.to_string()));
    }
    if let Err(missing) = require_two_cpus("the service", "the load") {
        return Ok(Outcome::Skipped(missing.to_string()));
    }
    let xtask = std::env::current_exe()?;
    let xtask = xtask.to_string_lossy();
    let mut targets: Vec<&str> = SMOKED.to_vec();
    match profile::unavailable() {
        None => targets.push("profile"),
        Some(why) => println!("bench profile: not run here: {why}"),
    }
    let mut failed = Vec::new();
    let mut took = Vec::new();
    for target in targets {
        let started = std::time::Instant::now();
        if let Err(error) = proc::run(&xtask, &["bench", "--smoke", target]) {
            println!("bench {target} failed: {error:#}");
            failed.push(target);
        }
        took.push(format!("{target} {:.1}s", started.elapsed().as_secs_f64()));
    }
    println!("benches, each a smoke run: {}", took.join(", "));
    if !failed.is_empty() {
        anyhow::bail!(
            "broken benches: {} (rerun one with `cargo xtask bench --smoke <name>`)",
            failed.join(", ")
        );
    }
    Ok(Outcome::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_totals_are_read_from_its_last_line() {
        assert_eq!(
            Totals::parse(
                "received 1200 spans, 3 metric streams, 1199 log records in 14 requests"
            ),
            Some(Totals {
                spans: 1200,
                log_records: 1199
            })
        );
        assert_eq!(Totals::parse("received spans"), None);
        assert_eq!(Totals::parse("OTLP/HTTP on http://127.0.0.1:1"), None);
    }
}
