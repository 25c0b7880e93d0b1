//! rotel, a third-party OTLP collector (PyPI, pinned), between an example
//! and the embedded collector: the collector tier of the backends chapters,
//! exercised on a machine without containers.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::process::{Child, Command};

use crate::workspace;

/// The pinned release (alpha only on PyPI).
const ROTEL: &str = "rotel==0.0.1a15";
/// What to install when Python is missing.
pub const INSTALL_HINT: &str = "python3 with venv, to install rotel from PyPI";

/// The `rotel-agent` binary, installed into `target/tools/rotel` once.
pub fn agent() -> Result<PathBuf> {
    let venv = workspace::python_tool("rotel", ROTEL, INSTALL_HINT)?;
    let lib = std::fs::read_dir(venv.join("lib"))?;
    lib.filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.is_file())
        .context("rotel installed, but its rotel-agent binary is not where expected")
}

/// A running rotel that forwards everything to `upstream` over OTLP/gRPC.
pub struct Rotel {
    child: Child,
    pub grpc_endpoint: String,
    pub http_endpoint: String,
}

impl Rotel {
    pub async fn start(upstream_grpc: &str) -> Result<Rotel> {
        let agent = agent()?;
        let (grpc, http) = (workspace::free_port()?, workspace::free_port()?);
        let child = Command::new(&agent)
            .args(["start", "--exporter", "otlp", "--otlp-exporter-endpoint"])
            .arg(upstream_grpc)
            .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
            .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", agent.display()))?;
        let rotel = Rotel {
            child,
            grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
            http_endpoint: format!("http://127.0.0.1:{http}"),
        };
        // Ready when both receivers accept connections.
        let started = Instant::now();
        loop {
            let up =
                |port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up(grpc) && up(http) {
                return Ok(rotel);
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("rotel did not open its OTLP ports within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, so that it sends what it holds, then wait for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we spawned and a valid signal number.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
