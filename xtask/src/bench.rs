//! `cargo xtask bench <target>`: measurements the book quotes, each a
//! command. Release builds; the load benches share `load` (wrk, or clients
//! in this process) and its one result type.

pub mod breaker;
pub mod load;
pub mod operator;
pub mod overhead;
pub mod polars;
pub mod quickstart;

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokio::process::Command;

use crate::scenario::runner;
use crate::scenario::traffic::Server;
use crate::{proc, repo};

/// Builds these packages' binaries in release mode and returns the
/// directory they are in.
pub fn build_release(packages: &[&str]) -> Result<PathBuf> {
    let mut args = vec!["build", "--release", "--locked", "--bins"];
    for package in packages {
        args.extend(["--package", package]);
    }
    proc::run("cargo", &args)?;
    Ok(repo::target_dir().join("release"))
}

/// Starts a release binary of the book on a free port with `env`, and
/// waits until it listens.
pub async fn serve(
    name: &str,
    binary: &Path,
    env: &[(&str, &str)],
) -> Result<Server> {
    let mut command = Command::new(binary);
    command
        .env("PORT", "0")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    runner::serve(name, &mut command).await
}
