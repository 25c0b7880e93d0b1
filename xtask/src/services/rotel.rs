//! rotel, a third-party OTLP collector (PyPI, pinned), between an example
//! and the embedded collector: the collector tier of the backends chapters,
//! exercised on a machine without containers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::proc::{self, Running, Signal};
use crate::tools::PythonTool;

/// The pinned release (alpha only on PyPI).
const ROTEL: PythonTool = PythonTool {
    name: "rotel",
    requirements: &["rotel==0.0.1a15"],
};

/// The `rotel-agent` binary, installed into `target/tools/rotel` once.
pub fn agent() -> Result<PathBuf> {
    ROTEL.package_file("rotel/rotel-agent")
}

/// A running rotel that forwards everything to `upstream` over OTLP/gRPC.
pub struct Rotel {
    process: Running,
    pub grpc_endpoint: String,
    pub http_endpoint: String,
}

impl Rotel {
    pub async fn start(upstream_grpc: &str) -> Result<Rotel> {
        let agent = agent()?;
        let (grpc, http) = (proc::free_port()?, proc::free_port()?);
        let mut process = Running::spawn(
            "rotel",
            Command::new(&agent)
                .args(["start", "--exporter", "otlp", "--otlp-exporter-endpoint"])
                .arg(upstream_grpc)
                .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
                .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}")),
        )?;
        // Ready when both receivers accept connections.
        process
            .wait_until(Duration::from_secs(20), || async move {
                proc::listening(grpc) && proc::listening(http)
            })
            .await
            .context("rotel did not open its OTLP ports")?;
        Ok(Rotel {
            process,
            grpc_endpoint: format!("http://127.0.0.1:{grpc}"),
            http_endpoint: format!("http://127.0.0.1:{http}"),
        })
    }

    /// SIGTERM, so that it sends what it holds, then wait for it.
    pub async fn stop(self) {
        self.process
            .end(Signal::Terminate, Duration::from_secs(10))
            .await;
    }
}

impl Service for Rotel {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin((*self).stop())
    }
}
