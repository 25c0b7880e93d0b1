//! AWS Lambda's runtime API, for a scenario whose process is a function
//! (`lambda = true`): cargo-lambda's emulator, `cargo lambda watch`, from
//! the binary PyPI's `cargo-lambda` wheel ships, in `target/tools`. It runs
//! with `--only-lambda-apis`, so it builds nothing: the runner starts the
//! function's binary itself, pointed at it, as Lambda starts a function's
//! `bootstrap`. Invocations are HTTP requests to the emulator
//! (`POST /2015-03-31/functions/NAME/invocations`), which it hands to the
//! function and whose response it returns.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::process::Command;

use super::{Service, Stopping, Stops};
use crate::proc::{self, Running};
use crate::tools::PythonTool;

/// The pinned emulator.
const CARGO_LAMBDA: PythonTool = PythonTool {
    name: "cargo-lambda",
    requirements: &["cargo-lambda==1.9.2"],
};

/// The placeholder a run fills with the emulator's `http://127.0.0.1:PORT`:
/// invocations go there, and a function's runtime API is beneath it.
pub const PLACEHOLDERS: &[&str] = &["lambda_api"];

/// What to install: Python, for the wheel that ships the emulator.
pub fn missing() -> Option<String> {
    PythonTool::missing()
}

/// A running emulator.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _process: Running,
}

impl Emulator {
    /// The emulator on a free port, for the example in `dir`: it reads the
    /// package's manifest (`cargo metadata`) for the names of its binaries,
    /// the functions it will answer for.
    pub async fn start(dir: &Path) -> Result<Emulator> {
        let program = CARGO_LAMBDA.program("cargo-lambda")?;
        let started = Instant::now();
        let port = proc::free_port()?;
        let mut process = Running::spawn(
            "cargo-lambda",
            Command::new(&program)
                .args(["lambda", "watch", "--only-lambda-apis"])
                // Explicit: its default address, `::`, fails where IPv6 is off.
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &port.to_string()])
                .current_dir(dir),
        )?;
        // A connection, not a request: any path it does not know invokes
        // the default function.
        process
            .wait_until(
                Duration::from_secs(30),
                || async move { proc::listening(port) },
            )
            .await
            .context("cargo lambda watch did not open its port")?;
        let url = format!("http://127.0.0.1:{port}");
        println!(
            "  Lambda: cargo lambda watch at {url} ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        Ok(Emulator {
            url,
            _process: process,
        })
    }
}

impl Service for Emulator {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin(async move { drop(self) })
    }
}
