//! A throwaway Redis for the examples that need one: the system's
//! `redis-server` on a free port, bound to 127.0.0.1, with no persistence,
//! in a temporary directory, killed when dropped. `REDIS_URL`, when set, is
//! used instead.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use crate::proc::{self, Running};
use crate::tools;

/// What to tell someone who has no Redis.
pub const INSTALL_HINT: &str = "Redis not found (no `redis-server` on PATH): install it \
     (Debian/Ubuntu: apt-get install redis-server), or set REDIS_URL";

/// The placeholder a run fills with the server's URL.
pub const PLACEHOLDERS: &[&str] = &["redis_url"];

/// What to install, when there is neither `REDIS_URL` nor `redis-server`.
pub fn missing() -> Option<String> {
    (std::env::var_os("REDIS_URL").is_none()
        && tools::on_path("redis-server").is_none())
    .then(|| INSTALL_HINT.to_owned())
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
        let binary = tools::on_path("redis-server").context(INSTALL_HINT)?;
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
