//! `cargo xtask bench profile`: where the bench service's CPU time goes,
//! per request, at a fixed rate. The service runs as in `bench overhead`
//! (alone on the first CPU, oha and the collector on the second); `perf
//! record` samples it for the measured seconds, and `perf report` splits
//! the samples by thread (the request path, the exporters' threads) and,
//! on the request path, by the crate or part of the system a function
//! belongs to. Samples become microseconds per request: samples ÷ sampling
//! frequency ÷ requests sent while sampling.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use super::overhead::{self, Bench, Handler, LOAD_CPU};
use crate::proc;

/// Samples per second of CPU time.
const FREQUENCY: u64 = 1999;

/// The threads of the bench service, as `perf` names them (15 characters).
const THREADS: &[(&str, &str)] = &[
    ("tokio-rt-worker", "the request path (tokio's workers)"),
    ("OpenTelemetry.T", "span batches: encoding and export"),
    ("OpenTelemetry.L", "log batches: encoding and export"),
    ("OpenTelemetry.M", "metric collection and export"),
    ("OpenTelemetry.P", "metric collection and export"),
    ("reqwest-interna", "the exporters' HTTP client"),
    ("fastrace-global", "fastrace's collector and reporter"),
];

/// Where a function belongs, by its name or its shared object; the first
/// match wins.
const PARTS: &[(&str, &[&str])] = &[
    ("kernel (network, scheduling)", &["[kernel"]),
    (
        "memory allocator",
        &[
            "malloc",
            "_int_free",
            "cfree",
            "realloc",
            "unlink_chunk",
            "tcache",
        ],
    ),
    ("memory copies", &["memmove", "memcpy", "memcmp", "memset"]),
    ("clock reads", &["clock_gettime", "[vdso]"]),
    ("tracing-opentelemetry", &["tracing_opentelemetry"]),
    (
        "tracing, tracing-subscriber",
        &[
            "tracing_subscriber",
            "tracing_core",
            "sharded_slab",
            "tracing::",
        ],
    ),
    ("OTLP encoding", &["opentelemetry_proto", "prost"]),
    ("OpenTelemetry SDK and API", &["opentelemetry"]),
    ("channels", &["mpmc", "mpsc", "crossbeam"]),
    ("fastrace", &["fastrace"]),
    (
        "HTTP server",
        &["hyper", "axum", "tower", "httparse", "http::"],
    ),
    ("tokio", &["tokio", "mio"]),
];

pub async fn run(
    mode: &str,
    handler: Handler,
    seconds: u64,
    build: super::Build,
) -> Result<()> {
    if seconds == 0 || handler.rate == 0 {
        bail!("--seconds and --rate must be at least 1");
    }
    if let Some(why) = unavailable() {
        bail!("{why}");
    }
    super::require_two_cpus("the service", "the load and the collector")?;
    let mode = overhead::mode(mode)?;
    let bench = Bench::build(build)?;
    let life = bench.start(mode, handler).await?;
    let load = |seconds| {
        super::rate::run(&bench.oha, &life.url, handler.rate, 16, seconds, LOAD_CPU)
    };
    load(1).await?;
    let data = tempfile::Builder::new().suffix(".perf").tempfile()?;
    let data_path = data.path().to_string_lossy().into_owned();
    // The load runs a second longer on each side than the sampling.
    let pid = life.pid;
    let (measured, sampled) = tokio::join!(load(seconds + 2), async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = overhead::cpu_seconds(pid)?;
        let sampled = proc::run_to_exit(
            "perf record",
            Command::new("perf")
                .args(["record", "--quiet", "-g", "-F", &FREQUENCY.to_string()])
                .args(["-p", &life.pid.to_string(), "-o", &data_path])
                .args(["--", "sleep", &seconds.to_string()]),
            Duration::from_secs(seconds + 60),
        )
        .await?;
        anyhow::Ok((sampled, overhead::cpu_seconds(pid)? - before))
    });
    measured?;
    let (sampled, cpu_seconds) = sampled?;
    if !sampled.status.success() {
        bail!(
            "perf record failed ({}):\n{}",
            sampled.status,
            sampled.stderr
        );
    }
    life.end().await?;
    let requests = (handler.rate * seconds) as f64;
    let per_request =
        |samples: u64| samples as f64 / FREQUENCY as f64 / requests * 1e6;

    let by_thread = report(&data_path, &["--sort", "comm"])?;
    println!(
        "\n{}, GET {} at {} req/s, {seconds} s sampled at {FREQUENCY} Hz: \
         service CPU µs per request",
        mode.name, handler.path, handler.rate
    );
    let mut threads: BTreeMap<String, u64> = BTreeMap::new();
    for line in &by_thread {
        *threads.entry(line.name.clone()).or_default() += line.samples;
    }
    let total: u64 = threads.values().sum();
    for (thread, samples) in by_size(threads) {
        let what = THREADS
            .iter()
            .find(|(name, _)| *name == thread)
            .map_or("", |(_, what)| what);
        println!("{:>8.2}  {thread:<16} {what}", per_request(samples));
    }
    println!("{:>8.2}  all threads", per_request(total));
    // perf's samples against the CPU time the kernel counted over the same
    // seconds: what the parts below leave out.
    println!(
        "{:>8.2}  CPU time from /proc/{}/stat over the same seconds (the samples cover {:.0} % of it)",
        cpu_seconds * 1e6 / requests,
        pid,
        per_request(total) / (cpu_seconds * 1e6 / requests) * 100.0
    );

    let functions = report(
        &data_path,
        &["--comms", "tokio-rt-worker", "--sort", "dso,symbol"],
    )?;
    println!("\nthe request path (tokio-rt-worker), by part:");
    for (part, samples) in by_size(parts(&functions)) {
        println!("{:>8.2}  {part}", per_request(samples));
    }
    Ok(())
}

/// Why `perf` cannot sample the bench service here, if it cannot.
pub fn unavailable() -> Option<String> {
    if crate::tools::on_path("perf").is_none() {
        return Some(
            "`perf` is not installed (Debian: apt-get install linux-perf; \
             Ubuntu: apt-get install linux-tools-generic linux-tools-$(uname -r))"
                .into(),
        );
    }
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(i32::MAX);
    #[cfg(unix)]
    let root = nix::unistd::geteuid().is_root();
    #[cfg(not(unix))]
    let root = false;
    if paranoid > 2 && !root {
        return Some(format!(
            "kernel.perf_event_paranoid is {paranoid}; perf may sample this user's \
             processes at 2 or below (sudo sysctl kernel.perf_event_paranoid=2)"
        ));
    }
    None
}

/// One line of `perf report -n`: its sample count and what it names.
#[derive(Debug, PartialEq)]
struct Line {
    samples: u64,
    name: String,
}

fn report(data: &str, sort: &[&str]) -> Result<Vec<Line>> {
    let output = proc::output(
        std::process::Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "-n",
                "-g",
                "none",
                "-i",
                data,
            ])
            .args(sort),
    )
    .context("perf report failed")?;
    Ok(parse(&output))
}

/// Reads `  12.08%  4231  [kernel.kallsyms]  [k] name` lines; headers and
/// blank lines are skipped.
fn parse(report: &str) -> Vec<Line> {
    report
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.next()?.strip_suffix('%')?.parse::<f64>().ok()?;
            let samples = words.next()?.parse().ok()?;
            let name = words.collect::<Vec<_>>().join(" ");
            Some(Line { samples, name })
        })
        .collect()
}

/// The samples of each part of `PARTS`, the rest as "other".
fn parts(functions: &[Line]) -> BTreeMap<String, u64> {
    let mut parts = BTreeMap::new();
    for function in functions {
        let part = PARTS
            .iter()
            .find(|(_, needles)| needles.iter().any(|n| function.name.contains(n)))
            .map_or("other (the service, std, inlined code)", |(part, _)| part);
        *parts.entry(part.to_owned()).or_default() += function.samples;
    }
    parts
}

fn by_size(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
# Samples: 14K of event 'cpu-clock:ppp'
#
# Overhead  Samples  Shared Object  Symbol
#
    12.08%     4231  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore
     4.59%     1608  libc.so.6          [.] malloc
     1.03%      361  telemetry-cost     [.] <tracing_subscriber::registry::sharded::Registry as tracing_subscriber::registry::LookupSpan>::span_data
     0.65%      228  telemetry-cost     [.] <tracing_opentelemetry::layer::OpenTelemetryLayer<S,T> as tracing_subscriber::layer::Layer<S>>::on_enter
     0.60%      210  telemetry-cost     [.] opentelemetry_proto::proto::tonic::common::v1::any_value::Value::encoded_len
     0.31%      108  telemetry-cost     [.] hyper::proto::h1::io::Buffered<T,B>::poll_flush
     0.20%       70  telemetry-cost     [.] telemetry_cost::busy
";

    #[test]
    fn reads_the_sample_counts_and_skips_the_header() {
        let lines = parse(REPORT);
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0].samples, 4231);
        assert_eq!(lines[1].name, "libc.so.6 [.] malloc");
        assert!(parse("# only a header\n\nnot 12 a line\n").is_empty());
    }

    #[test]
    fn each_function_counts_in_one_part() {
        let parts = parts(&parse(REPORT));
        assert_eq!(parts["kernel (network, scheduling)"], 4231);
        assert_eq!(parts["memory allocator"], 1608);
        // The registry is `tracing`'s, though its name holds "tracing".
        assert_eq!(parts["tracing, tracing-subscriber"], 361);
        // tracing-opentelemetry's layer, though its name holds tracing_subscriber.
        assert_eq!(parts["tracing-opentelemetry"], 228);
        assert_eq!(parts["OTLP encoding"], 210);
        assert_eq!(parts["HTTP server"], 108);
        assert_eq!(parts["other (the service, std, inlined code)"], 70);
        assert_eq!(
            parts.values().sum::<u64>(),
            4231 + 1608 + 361 + 228 + 210 + 108 + 70
        );
    }
}
