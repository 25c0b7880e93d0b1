//! The `run` step: `cargo xtask run <slug>` for every example, as a reader
//! starts it, then Ctrl-C (SIGINT to the xtask alone, as a terminal sends
//! it to the foreground process and `run` puts its children in groups of
//! their own). Passes when the command exits successfully, no process it
//! started is still running, and it left no directory in its temporary
//! directory (`TMPDIR` points at a fresh one; PostgreSQL's cluster and
//! Prometheus's data live there; a file a job was asked to write, such as
//! the Polars pipeline's result, may stay). The binaries are built first
//! for all the examples at once, as the `scenarios` step builds them (after
//! that step, nothing is left to do), and each run uses them
//! (`--no-build`): a build of one example alone would compile the shared
//! crates again with other features.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::proc::{self, Running, Signal};
use crate::repo::{self, Example};
use crate::run::READY;
use crate::scenario::{self, spec};
use crate::tools::Outcome;

/// How long a run may take to start (a build included).
const START_DEADLINE: Duration = Duration::from_secs(300);
/// How long it may take to stop after Ctrl-C.
const STOP_DEADLINE: Duration = Duration::from_secs(60);

/// Every chosen example, started and interrupted.
pub async fn step(
    examples: &[Example],
    build: scenario::BuildScope<'_>,
) -> Result<Outcome> {
    if !cfg!(target_os = "linux") {
        return Ok(Outcome::Skipped(
            "the processes left behind are read from /proc: Linux only".into(),
        ));
    }
    let xtask =
        std::env::current_exe().context("cannot find the xtask's own binary")?;
    let mut loaded = Vec::new();
    for example in examples {
        let path = example.scenario_path();
        let scenario = path.exists().then(|| spec::load(&path)).transpose()?;
        loaded.push((example.clone(), scenario));
    }
    scenario::build(&loaded, build)?;
    let mut failures = Vec::new();
    let mut lacking = Vec::new();
    for (example, scenario) in &loaded {
        let Some(scenario) = scenario else {
            // Nothing to interrupt: `run` runs the cases once and ends.
            println!(
                "  {}: runs to completion (cases.toml), as the scenarios step runs it",
                example.slug
            );
            continue;
        };
        let missing: Vec<String> =
            scenario.needs.iter().filter_map(|n| n.missing()).collect();
        if !missing.is_empty() {
            lacking.push(format!("{}: {}", example.slug, missing.join("; ")));
            continue;
        }
        let serves = scenario
            .process
            .iter()
            .any(|p| !matches!(p.kind, spec::Kind::Job { .. }));
        match interrupt(&xtask, example, serves).await {
            Ok(summary) => println!("  {}: {summary}", example.slug),
            Err(error) => {
                eprintln!("  {} FAILED", example.slug);
                failures.push(format!(
                    "{}: {error:#}\n\nrerun it: cargo xtask run {}",
                    example.slug, example.slug
                ));
            }
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n\n"));
    }
    Ok(match lacking.is_empty() {
        true => Outcome::Passed,
        false => Outcome::Skipped(lacking.join("; ")),
    })
}

/// One example: started, interrupted once up (or awaited, when it only
/// runs jobs), then what it left behind.
async fn interrupt(xtask: &Path, example: &Example, serves: bool) -> Result<String> {
    let temp = tempfile::tempdir()?;
    let mut command = Command::new(xtask);
    command
        .args(["run", "--no-build", &example.slug])
        .env("TMPDIR", temp.path())
        .current_dir(repo::root());
    let name = format!("cargo xtask run {}", example.slug);
    let mut running = Running::spawn(&name, &mut command)?;
    let pid = running.pid().context("it exited at once")?;
    let mut started = BTreeMap::new();
    if serves {
        running.wait_for_line(READY, START_DEADLINE).await?;
        started = processes_of(pid, temp.path());
        running.signal(Signal::Interrupt);
    }
    let limit = if serves {
        STOP_DEADLINE
    } else {
        START_DEADLINE
    };
    let status = running.wait_exit(limit).await?;
    if !status.success() {
        bail!(
            "it exited with {status} after Ctrl-C:\n{}",
            running.output_tail()
        );
    }
    let alive: Vec<String> = started
        .iter()
        .filter(|(pid, process)| still_running(**pid, process.started))
        .map(|(pid, process)| format!("{pid} {}", process.command))
        .collect();
    if !alive.is_empty() {
        bail!("still running after it exited:\n  {}", alive.join("\n  "));
    }
    let left: Vec<String> = std::fs::read_dir(temp.path())?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if !left.is_empty() {
        bail!(
            "left directories in its temporary directory: {}",
            left.join(", ")
        );
    }
    Ok(match serves {
        true => format!(
            "{} processes started, all gone after Ctrl-C; no directory left in TMPDIR",
            started.len()
        ),
        false => "ran its jobs and ended; no directory left in TMPDIR".into(),
    })
}

/// A process as `/proc` shows it.
struct Process {
    parent: u32,
    /// Clock ticks after boot: tells a process from a later one that got
    /// its pid.
    started: u64,
    state: char,
    command: String,
}

/// The descendants of `root`, and every process whose command line names
/// `dir` (PostgreSQL's server, which `pg_ctl` detaches from its parent).
/// Read from `/proc` directly (`proc::stat` and the command line): two
/// files per process, shorter than a crate.
fn processes_of(root: u32, dir: &Path) -> BTreeMap<u32, Process> {
    let mut all = all_processes();
    let dir = dir.to_string_lossy();
    let mut chosen: BTreeMap<u32, Process> = BTreeMap::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        let children: Vec<u32> = all
            .iter()
            .filter(|(_, p)| p.parent == parent)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in children {
            if let Some(process) = all.remove(&pid) {
                chosen.insert(pid, process);
                frontier.push(pid);
            }
        }
    }
    for (pid, process) in all {
        if process.command.contains(dir.as_ref()) {
            chosen.insert(pid, process);
        }
    }
    chosen
}

fn all_processes() -> BTreeMap<u32, Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read(pid)?)))
        .collect()
}

fn read(pid: u32) -> Option<Process> {
    let stat = proc::stat(pid)?;
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default();
    Some(Process {
        state: stat.state,
        parent: stat.parent,
        started: stat.started,
        command: command.trim().to_owned(),
    })
}

/// Whether `pid` is the same process and has not exited (a zombie has).
fn still_running(pid: u32, started: u64) -> bool {
    read(pid).is_some_and(|p| p.started == started && p.state != 'Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn children_and_processes_naming_the_directory_are_found() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("x"), "").unwrap();
        let named = format!("tail -f {}/x", temp.path().display());
        // A child with a child of its own that names the directory.
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(format!("{named} & exec sleep 31"))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let root = shell.id().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let found = processes_of(std::process::id(), temp.path());
        let commands: Vec<&str> =
            found.values().map(|p| p.command.as_str()).collect();
        assert_eq!(found[&root].command, "sleep 31", "{commands:?}");
        let (pid, process) = found.iter().find(|(_, p)| p.command == named).unwrap();
        let (pid, started) = (*pid, process.started);
        assert_eq!(found[&pid].parent, root);
        assert!(still_running(pid, started));
        // A different start time is a different process.
        assert!(!still_running(pid, started + 1));
        shell.kill().await.unwrap();
        let _ = shell.wait().await;
        assert!(!still_running(root, found[&root].started));
        // Orphaned, it is no descendant any more, but it names the
        // directory, and it runs on: what the step reports.
        let again = processes_of(std::process::id(), temp.path());
        assert!(again.contains_key(&pid), "found by its directory");
        assert!(still_running(pid, started));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
}
