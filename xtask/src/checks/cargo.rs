//! Cargo's own checks over the workspace: `cargo fmt --check`, clippy with
//! `-D warnings` on the tooling (the examples are linted as copies, by
//! `standalone`), and `cargo test` with a PostgreSQL for the examples that
//! need one.

use anyhow::Result;

use crate::repo::{self, Example, Manifest};
use crate::scenario;
use crate::services::{self, Need, postgres};
use crate::tools::Outcome;
use crate::{builds, proc};

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

/// Clippy on the workspace's tooling (the xtask, the book's snippets, the
/// bench service), or those of `packages`. The examples are linted by the
/// `standalone` step, each as a copy outside the workspace with the
/// features its own manifest asks for: linting them here as well would
/// check their whole dependency graph twice.
pub fn clippy(packages: Option<&[String]>) -> Result<Outcome> {
    let mut examples = Vec::new();
    for example in repo::examples()? {
        for manifest in example.manifests()? {
            examples.push(Manifest::read(&manifest)?.package.name);
        }
    }
    let mut args = vec!["clippy"];
    match packages {
        None => {
            args.push("--workspace");
            for package in &examples {
                args.extend(["--exclude", package.as_str()]);
            }
        }
        Some(packages) => {
            let tooling: Vec<&String> =
                packages.iter().filter(|p| !examples.contains(p)).collect();
            if tooling.is_empty() {
                println!(
                    "  no tooling package in this selection: the examples are linted by the standalone step"
                );
                return Ok(Outcome::Passed);
            }
            for package in tooling {
                args.extend(["-p", package.as_str()]);
            }
        }
    }
    // The features the other builds turn on, so that their code is linted.
    let linted = |package: &str| match packages {
        None => !examples.iter().any(|e| e == package),
        Some(packages) => packages.iter().any(|p| p == package),
    };
    let features: Vec<&str> = builds::FEATURES
        .iter()
        .copied()
        .filter(|f| linted(f.split_once('/').map_or(f, |(p, _)| p)))
        .collect();
    for feature in &features {
        args.extend(["--features", feature]);
    }
    args.extend(["--all-targets", "--locked", "--", "-D", "warnings"]);
    component("clippy", &args, "rustup component add clippy")
}

/// `cargo test` of the workspace (or `packages`), with `DATABASE_URL` for
/// the examples that need PostgreSQL, `KAFKA_BROKERS` and `REDIS_URL` for
/// those that need Kafka and Redis (among `examples`, the ones whose
/// packages are tested); without PostgreSQL, its examples' tests are left
/// out and the step reports a skip (a failure with `--require-all`).
pub async fn test(
    packages: Option<&[String]>,
    examples: &[Example],
    shared: &services::Shared,
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
        match shared.postgres().await? {
            Some(postgres) => env.push(("DATABASE_URL", postgres.admin_url.clone())),
            None => {
                left_out = needing.iter().map(|e| e.package.as_str()).collect();
                skipped = Some(format!(
                    "tests of {} not run: {}",
                    left_out.join(", "),
                    postgres::PACKAGES.hint()
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
    // The selection every debug build of verify shares (`builds`).
    let mut args: Vec<String> = vec!["test".into(), "--locked".into()];
    args.extend(builds::selection(tested.as_deref()));
    if tested.is_none() {
        for package in &left_out {
            args.extend(["--exclude".to_owned(), (*package).to_owned()]);
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    proc::run_with_env("cargo", &args, &env)?;
    Ok(skipped.map_or(Outcome::Passed, Outcome::Skipped))
}
