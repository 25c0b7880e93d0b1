//! Cargo's own checks over the workspace: `cargo fmt --check`, clippy with
//! `-D warnings` (natively, then the browser front ends for wasm), and
//! `cargo test` with a PostgreSQL for the examples that need one.

use anyhow::Result;

use crate::repo::Example;
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

/// `-p NAME` for each package, or `--workspace`.
fn package_args(packages: Option<&[String]>) -> Vec<&str> {
    match packages {
        None => vec!["--workspace"],
        Some(packages) => packages.iter().flat_map(|p| ["-p", p.as_str()]).collect(),
    }
}

/// Clippy on the workspace (or `packages`) for this machine, then on the
/// browser front ends of `examples` for the wasm target (for any other
/// target they are empty).
pub fn clippy(packages: Option<&[String]>, examples: &[Example]) -> Result<Outcome> {
    let mut args = vec!["clippy"];
    args.extend(package_args(packages));
    args.extend(["--all-targets", "--locked", "--", "-D", "warnings"]);
    let outcome = component("clippy", &args, "rustup component add clippy")?;
    let mut front_ends = Vec::new();
    for example in examples {
        front_ends.extend(web::front_ends(example)?);
    }
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

/// `cargo test` of the workspace (or `packages`), with `DATABASE_URL` for
/// the examples that need PostgreSQL, `KAFKA_BROKERS` and `REDIS_URL` for
/// those that need Kafka and Redis (among `examples`, the ones whose
/// packages are tested); without PostgreSQL, its examples' tests are left
/// out and the step reports a skip (a failure with `--require-all`).
pub async fn test(
    packages: Option<&[String]>,
    examples: &[Example],
    shared: &mut services::Shared,
) -> Result<Outcome> {
    let mut env: Vec<(&str, String)> = Vec::new();
    if !scenario::examples_needing(examples, Need::Kafka)?.is_empty() {
        env.push(("KAFKA_BROKERS", shared.kafka().await?.brokers.clone()));
    }
    if !scenario::examples_needing(examples, Need::Redis)?.is_empty() {
        env.push(("REDIS_URL", shared.redis().await?.url.clone()));
    }
    let needing = scenario::examples_needing(examples, Need::Postgres)?;
    let mut skipped = None;
    let mut left_out: Vec<&str> = Vec::new();
    if !needing.is_empty() {
        match shared.postgres()? {
            Some(postgres) => env.push(("DATABASE_URL", postgres.admin_url.clone())),
            None => {
                left_out = needing.iter().map(|e| e.package.as_str()).collect();
                skipped = Some(format!(
                    "tests of {} not run: {}",
                    left_out.join(", "),
                    postgres::INSTALL_HINT
                ));
            }
        }
    }
    let tested: Option<Vec<String>> = packages.map(|packages| {
        packages
            .iter()
            .filter(|p| !left_out.contains(&p.as_str()))
            .cloned()
            .collect()
    });
    let mut args = vec!["test"];
    args.extend(package_args(tested.as_deref()));
    if tested.is_none() {
        for package in &left_out {
            args.extend(["--exclude", package]);
        }
    }
    args.push("--locked");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    proc::run_with_env("cargo", &args, &env)?;
    Ok(skipped.map_or(Outcome::Passed, Outcome::Skipped))
}
