//! The embedded collector against the official exporters of other languages:
//! Python's over OTLP/gRPC and OTLP/HTTP protobuf, JavaScript's over OTLP/HTTP
//! JSON. Each sends a parent and child span, a counter and a log record; what
//! arrives is checked with the same expectations the scenarios use.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::otlp::collector::Collector;
use crate::proc;
use crate::repo::{self, relative};
use crate::scenario::expect::{self, Observed, Visible};
use crate::scenario::spec::Expect;
use crate::tools::PythonTool;

const REQUIREMENTS: &str = include_str!("../../interop/requirements.txt");
const SEND_PY: &str = include_str!("../../interop/send.py");
const PACKAGE_JSON: &str = include_str!("../../interop/package.json");
const SEND_MJS: &str = include_str!("../../interop/send.mjs");
const EXPECT: &str = include_str!("../../interop/expect.toml");

/// One official exporter and how it is run.
struct Sender {
    service: &'static str,
    language: &'static str,
    /// `grpc`, `http/protobuf` or `http/json`.
    transport: &'static str,
}

const SENDERS: &[Sender] = &[
    Sender {
        service: "interop-python-grpc",
        language: "python",
        transport: "grpc",
    },
    Sender {
        service: "interop-python-http",
        language: "python",
        transport: "http/protobuf",
    },
    Sender {
        service: "interop-javascript-json",
        language: "javascript",
        transport: "http/json",
    },
];

/// What the step needs that may be missing: `None` when all is there.
pub fn missing_programs() -> Option<String> {
    let missing: Vec<&str> = ["python3", "npm", "node"]
        .into_iter()
        .filter(|program| !proc::succeeds(program, &["--version"]))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not found; install Python 3 (with venv) and Node.js with npm",
            missing.join(", ")
        )
    })
}

/// Installs the pinned SDKs (once) and checks every sender.
pub async fn run() -> Result<()> {
    let dir = repo::target_dir().join("interop");
    write_if_changed(&dir.join("send.py"), SEND_PY)?;
    let requirements: Vec<&str> = REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let python = PythonTool {
        name: "interop",
        requirements: &requirements,
    }
    .program("python")?;
    let node_dir = install_node(&dir)?;
    for sender in SENDERS {
        check_sender(sender, &python, &dir, &node_dir)
            .await
            .with_context(|| format!("{} ({})", sender.service, sender.transport))?;
        println!(
            "  {} over {}: spans, metric and log as expected",
            sender.language, sender.transport
        );
    }
    Ok(())
}

/// Writes `content` to `path` unless it is already there; true when written.
fn write_if_changed(path: &Path, content: &str) -> Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|c| c == content) {
        return Ok(false);
    }
    std::fs::create_dir_all(path.parent().context("no parent")?)?;
    std::fs::write(path, content)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

fn install_node(dir: &Path) -> Result<PathBuf> {
    let node_dir = dir.join("node");
    write_if_changed(&node_dir.join("send.mjs"), SEND_MJS)?;
    let changed = write_if_changed(&node_dir.join("package.json"), PACKAGE_JSON)?;
    if changed || !node_dir.join("node_modules").exists() {
        let prefix = node_dir.to_string_lossy().into_owned();
        proc::run(
            "npm",
            &[
                "install",
                "--prefix",
                &prefix,
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
        )
        .context("installing the OpenTelemetry JavaScript SDK from npm failed")?;
    }
    Ok(node_dir)
}

async fn check_sender(
    sender: &Sender,
    python: &Path,
    dir: &Path,
    node_dir: &Path,
) -> Result<()> {
    let collector = Collector::start(0, 0).await?;
    let endpoint = if sender.transport == "grpc" {
        collector.grpc_endpoint()
    } else {
        collector.http_endpoint()
    };
    let mut command = if sender.language == "python" {
        let mut c = Command::new(python);
        c.arg(dir.join("send.py")).arg(sender.transport);
        c
    } else {
        let mut c = Command::new("node");
        c.arg(node_dir.join("send.mjs"));
        c
    };
    command
        .env("OTEL_SERVICE_NAME", sender.service)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", sender.transport);
    let output =
        proc::run_to_exit(sender.service, &mut command, Duration::from_secs(120))
            .await?;
    if !output.status.success() {
        bail!(
            "the sender failed ({}):\n{}",
            output.status,
            output.printed()
        );
    }
    // The senders shut their providers down before exiting: all is here.
    let received = collector.store.snapshot();
    let expect: Expect = toml::from_str(
        &EXPECT
            .replace("{service}", sender.service)
            .replace("{language}", sender.language),
    )
    .with_context(|| {
        format!(
            "{} is not valid",
            relative(&repo::root().join("xtask/interop/expect.toml"))
        )
    })?;
    let mut failures =
        expect::check(&expect, &received, &Observed::default(), Visible::ALL);
    for request in &received.requests {
        if request.transport != sender.transport {
            failures.push(format!(
                "a {} export arrived over {}, expected {}",
                request.signal, request.transport, sender.transport
            ));
        }
    }
    for signal in ["traces", "metrics", "logs"] {
        if !received.requests.iter().any(|r| r.signal == signal) {
            failures.push(format!("no {signal} export arrived"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!(
            "the collector did not receive what the official exporter sent:\n  {}\nsender stderr:\n{}",
            failures.join("\n  "),
            output.stderr
        )
    }
}
