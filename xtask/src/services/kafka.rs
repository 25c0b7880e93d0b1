//! A throwaway Kafka-protocol broker for the examples that need one: tansu,
//! a Kafka-compatible broker written in Rust, from its crates.io release
//! (pinned, installed into `target/tools` once, with its in-memory storage),
//! on a free port, run from an empty directory (it reads `.env` from where
//! it starts), killed when dropped. `KAFKA_BROKERS`, when set, is used
//! instead: a broker you run yourself.
//!
//! tansu does not create topics on first use; the examples create theirs.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use crate::proc::{self, Running};
use crate::tools::CargoTool;

/// The pinned broker. `dynostore` is the feature behind `memory://` storage.
const TANSU: CargoTool<'static> = CargoTool {
    krate: "tansu",
    version: "0.6.0",
    binary: "tansu",
    locked: true,
    features: &["dynostore"],
    // A debug build: about 3.5 minutes instead of 7 on 2 cores, and the
    // scenarios and tests pass messages in the same time.
    release: false,
};

/// The placeholder a run fills with the broker's `host:port`.
pub const PLACEHOLDERS: &[&str] = &["kafka_brokers"];

/// Nothing to install by hand: the broker is built from crates.io on first
/// use (a few minutes, once).
pub fn missing() -> Option<String> {
    None
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
        let binary = TANSU.install()?;
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
