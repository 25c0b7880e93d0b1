//! `cargo xtask bench polars`: the polars-pipeline example's job (a release
//! build) against the same pipeline in pandas (`xtask/bench/pipeline.py`,
//! pandas and numpy pinned, installed into `target/tools/pandas`), on the same
//! generated data, one run each, one after the other. Reports the pipeline's
//! own time (as each program measures it, data generation excluded) and the
//! whole process's wall time and peak resident memory (from `wait4`), and
//! checks that both computed the same totals.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::repo;
use crate::tools::PythonTool;

const PANDAS: PythonTool = PythonTool {
    name: "pandas",
    requirements: &["pandas==3.1.1", "numpy==2.4.6"],
};

/// One process's run.
#[derive(Debug)]
struct Measured {
    pipeline_seconds: f64,
    wall_seconds: f64,
    peak_rss_mib: f64,
    totals: String,
}

pub fn run(rows: usize, customers: usize, build: super::Build) -> Result<()> {
    if rows == 0 || customers == 0 {
        bail!("--rows and --customers must be at least 1");
    }
    let release = super::build(build, &["example-polars-pipeline"])?;
    let python = PANDAS.program("python")?;
    let rows_arg = rows.to_string();
    let customers_arg = customers.to_string();
    // The three outputs, removed with the directory at the end.
    let out_dir = tempfile::Builder::new().prefix("bench-polars-").tempdir()?;
    let out = out_dir.path();

    let binary = release.join("example-polars-pipeline");
    let mut polars = Command::new(&binary);
    polars
        .env("ROWS", &rows_arg)
        .env("CUSTOMERS", &customers_arg)
        .env("OUTPUT", out.join("bench-polars.csv"))
        // The pipeline is measured, not the exporter.
        .env("OTEL_SDK_DISABLED", "true")
        .env("RUST_LOG", "warn");
    let polars = measure(&mut polars, "polars")?;
    let mut fused = Command::new(&binary);
    fused
        .env("ROWS", &rows_arg)
        .env("CUSTOMERS", &customers_arg)
        .env("OUTPUT", out.join("bench-polars-fused.csv"))
        .env("FUSED", "1")
        .env("OTEL_SDK_DISABLED", "true")
        .env("RUST_LOG", "warn");
    let fused = measure_untotalled(&mut fused, "polars, fused")?;

    let script = repo::root().join("xtask/bench/pipeline.py");
    let mut pandas = Command::new(&python);
    pandas
        .arg(&script)
        .args([&rows_arg, &customers_arg])
        .arg(out.join("bench-pandas.csv"));
    let pandas = measure(&mut pandas, "pandas")?;

    if polars.totals != pandas.totals {
        bail!(
            "the two pipelines disagree: polars {}, pandas {}",
            polars.totals,
            pandas.totals
        );
    }
    println!(
        "\n{rows} orders, {customers} customers; one run each, release build, \
         telemetry off; both computed {}",
        polars.totals
    );
    println!(
        "{:<16} {:>14} {:>14} {:>16}",
        "", "pipeline s", "process s", "peak RSS MiB"
    );
    for (name, m) in [
        ("polars, staged", &polars),
        ("polars, fused", &fused),
        ("pandas", &pandas),
    ] {
        println!(
            "{name:<16} {:>14.3} {:>14.3} {:>16.1}",
            m.pipeline_seconds, m.wall_seconds, m.peak_rss_mib
        );
    }
    println!(
        "pandas / polars staged: pipeline x{:.2}, peak memory x{:.2}; \
         pandas / polars fused: pipeline x{:.2}, peak memory x{:.2}",
        pandas.pipeline_seconds / polars.pipeline_seconds,
        pandas.peak_rss_mib / polars.peak_rss_mib,
        pandas.pipeline_seconds / fused.pipeline_seconds,
        pandas.peak_rss_mib / fused.peak_rss_mib
    );
    Ok(())
}

/// As [`measure`], for a run that prints no totals (the fused query).
fn measure_untotalled(command: &mut Command, name: &str) -> Result<Measured> {
    measure_with(command, name, false)
}

/// Runs `command` to completion, with its peak resident memory from `wait4`.
fn measure(command: &mut Command, name: &str) -> Result<Measured> {
    measure_with(command, name, true)
}

fn measure_with(
    command: &mut Command,
    name: &str,
    totalled: bool,
) -> Result<Measured> {
    println!("> {name}");
    let started = Instant::now();
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    let pid = child.id();
    let stdout = child.stdout;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut out) = stdout {
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
        }
        text
    });
    let (status, peak_kib) = wait4(pid)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let text = reader.join().unwrap_or_default();
    if status != 0 {
        bail!("{name} failed (status {status}):\n{text}");
    }
    let pipeline_seconds = text
        .lines()
        .find_map(|l| l.strip_prefix("pipeline_seconds: "))
        .and_then(|s| s.trim().parse().ok())
        .with_context(|| format!("{name} printed no pipeline_seconds:\n{text}"))?;
    Ok(Measured {
        pipeline_seconds,
        wall_seconds,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        totals: if totalled {
            totals(&text)
                .with_context(|| format!("{name} printed no totals:\n{text}"))?
        } else {
            String::new()
        },
    })
}

/// The totals by segment, in one normalised form for both programs: the
/// Rust job prints `("business", 123)`, the script `('business', 123)`.
fn totals(text: &str) -> Option<String> {
    let line = text.lines().find_map(|l| {
        let (_, rest) = l.split_once("totals")?;
        rest.find('[').map(|at| rest[at..].to_owned())
    })?;
    let digits_and_names: String = line
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    Some(
        digits_and_names
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(unix)]
fn wait4(pid: u32) -> Result<(i32, i64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are valid for the call.
    let waited =
        unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // ru_maxrss is in KiB on Linux.
    Ok((code, usage.ru_maxrss))
}

#[cfg(not(unix))]
fn wait4(_: u32) -> Result<(i32, i64)> {
    bail!("peak memory is measured with wait4, on Unix only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_compare_across_languages() {
        let rust =
            "1 orders; totals by segment: [(\"business\", 12), (\"consumer\", 3)]";
        let python = "totals: [('business', 12), ('consumer', 3)]";
        assert_eq!(totals(rust), totals(python));
        assert_eq!(totals(python).unwrap(), "business 12 consumer 3");
    }
}
