//! Cargo's own checks over the workspace: `cargo fmt --check`, clippy with
//! `-D warnings` (natively, then the browser front ends for wasm), and
//! `cargo test` with a PostgreSQL for the examples that need one.

use anyhow::Result;

use crate::scenario;
use crate::services::{self, Need, postgres};
use crate::tools::Outcome;
use crate::{proc, web};

/// A cargo subcommand from a rustup component, skipped when not installed.
fn component(subcommand: &str, args: &[&str], install: &str) -> Result<Outcome> {
    if !proc::succeeds("cargo", &[subcommand, "--version"]) {
        return Ok(Outcome::Skipped(format!(
            "`cargo {subcommand}` is not installed ({install})"
        )));
    }
    proc::run("cargo", args)?;
    Ok(Outcome::Passed)
}

/// `cargo fmt --all --check`.
pub fn fmt() -> Result<Outcome> {
    component(
        "fmt",
        &["fmt", "--all", "--check"],
        "rustup component add rustfmt",
    )
}

/// Clippy on the workspace for this machine, then on the browser front ends
/// for the wasm target (for any other target they are empty).
pub fn clippy() -> Result<Outcome> {
    let outcome = component(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        "rustup component add clippy",
    )?;
    let front_ends = web::all_front_ends()?;
    if matches!(outcome, Outcome::Skipped(_)) || front_ends.is_empty() {
        return Ok(outcome);
    }
    web::ensure_target()?;
    for front_end in &front_ends {
        let mut args = vec!["clippy", "--locked", "--target", web::WASM_TARGET];
        let package_args = front_end.cargo_args();
        args.extend(package_args.iter().map(String::as_str));
        args.extend(["--", "-D", "warnings"]);
        proc::run("cargo", &args)?;
    }
    Ok(Outcome::Passed)
}

/// `cargo test --workspace`, with `DATABASE_URL` for the examples that need
/// PostgreSQL, `KAFKA_BROKERS` and `REDIS_URL` for those that need Kafka
/// and Redis; without
/// PostgreSQL, its examples' tests are left out and the step reports a skip
/// (a failure with `--require-all`).
pub async fn test(shared: &mut services::Shared) -> Result<Outcome> {
    let mut env: Vec<(&str, String)> = Vec::new();
    if !scenario::examples_needing(Need::Kafka)?.is_empty() {
        env.push(("KAFKA_BROKERS", shared.kafka().await?.brokers.clone()));
    }
    if !scenario::examples_needing(Need::Redis)?.is_empty() {
        env.push(("REDIS_URL", shared.redis().await?.url.clone()));
    }
    let needing = scenario::examples_needing(Need::Postgres)?;
    let mut args = vec!["test", "--workspace", "--locked"];
    let mut skipped = None;
    if !needing.is_empty() {
        match shared.postgres()? {
            Some(postgres) => env.push(("DATABASE_URL", postgres.admin_url.clone())),
            None => {
                for example in &needing {
                    args.extend(["--exclude", example.package.as_str()]);
                }
                let names: Vec<&str> =
                    needing.iter().map(|e| e.package.as_str()).collect();
                skipped = Some(format!(
                    "tests of {} not run: {}",
                    names.join(", "),
                    postgres::INSTALL_HINT
                ));
            }
        }
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    proc::run_with_env("cargo", &args, &env)?;
    Ok(skipped.map_or(Outcome::Passed, Outcome::Skipped))
}
