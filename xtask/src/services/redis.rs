//! A throwaway Redis for the examples that need one: the system's
//! `redis-server` on a free port, bound to 127.0.0.1, with no persistence,
//! in a temporary directory, killed when dropped. `REDIS_URL`, when set, is
//! used instead.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::proc::{self, Running};
use crate::tools::{self, SystemPackages};

/// What to tell someone who has no Redis.
/// What it needs from the system: `redis-server` on PATH.
pub const PACKAGES: SystemPackages = SystemPackages {
    what: "Redis (the cache-aside example's tests and scenario)",
    apt: &["redis-server"],
    otherwise: "or set REDIS_URL",
};

/// The placeholder a run fills with the server's URL.
pub const PLACEHOLDERS: &[&str] = &["redis_url"];

/// What to install, when there is neither `REDIS_URL` nor `redis-server`.
pub fn missing() -> Option<String> {
    (std::env::var_os("REDIS_URL").is_none()
        && tools::on_path("redis-server").is_none())
    .then(|| PACKAGES.hint())
}

/// A running server, or the one `REDIS_URL` names.
pub struct Redis {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// Killed on drop, before its directory is removed.
    _process: Option<Running>,
    _dir: Option<tempfile::TempDir>,
}

impl Redis {
    /// `REDIS_URL` if set; else a new server.
    pub async fn provide() -> Result<Redis> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            println!("  Redis: REDIS_URL ({url})");
            return Ok(Redis {
                url,
                _process: None,
                _dir: None,
            });
        }
        Self::start().await
    }

    /// A new, empty server.
    pub async fn start() -> Result<Redis> {
        let binary =
            tools::on_path("redis-server").with_context(|| PACKAGES.hint())?;
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("rust-otel-book-redis-")
            .tempdir()
            .context("cannot create a directory for Redis")?;
        let port = proc::free_port()?;
        let mut process = Running::spawn(
            "redis",
            Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path()),
        )?;
        process
            .wait_until(
                Duration::from_secs(10),
                || async move { proc::listening(port) },
            )
            .await
            .context("redis-server did not open its port")?;
        let url = format!("redis://127.0.0.1:{port}");
        println!(
            "  Redis: a throwaway server at {url} ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        Ok(Redis {
            url,
            _process: Some(process),
            _dir: Some(dir),
        })
    }
}

impl Service for Redis {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin(async move { drop(self) })
    }
}
