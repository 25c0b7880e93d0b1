//! `cargo xtask verify`: the order of the steps, one progress line per
//! step, a summary table, and the command that reruns a failed step. Each
//! step's work lives in `checks/` or `scenario/`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;

use crate::checks::{self, book, cargo, generate, interop, pins, snippets, stacks};
use crate::repo::{self, Chosen, Selection};
use crate::scenario;
use crate::services::{self, docker};
use crate::tools::{CargoTool, Outcome, Prefetch};

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Step {
    /// Examples' versions equal the pin table; one version of each
    /// OpenTelemetry crate; every example has its README.
    Pins,
    /// Generated files are fresh and untouched.
    Generated,
    /// The book's fences and includes follow the snippet rules.
    Snippets,
    /// `cargo fmt --check`.
    Fmt,
    /// `cargo clippy -D warnings` on the tooling (the examples: `standalone`).
    Clippy,
    /// `cargo test --workspace`.
    Test,
    /// Each example, copied out of the workspace, passes clippy on its own.
    Standalone,
    /// Every example against the embedded collector, telemetry asserted.
    Scenarios,
    /// `cargo xtask run` of each example, then Ctrl-C: exits 0, leaves
    /// no process and no temporary file behind.
    Run,
    /// Every `cargo xtask bench` once, debug builds, a second of load: a
    /// broken bench fails; no figure is judged.
    Benches,
    /// The embedded collector against Python's and JavaScript's official exporters.
    Interop,
    /// The mdBook builds and its links resolve.
    Book,
    /// The GitHub workflows pass actionlint.
    Workflows,
    /// The docker stacks: valid Compose files, images pinned, dashboards JSON.
    Stacks,
}

impl Step {
    /// The steps that `--shard` splits: each covers the shard's examples
    /// or packages. The others look at the repository as a whole.
    pub const PER_PACKAGE: &[Step] = &[
        Step::Clippy,
        Step::Test,
        Step::Standalone,
        Step::Scenarios,
        Step::Run,
    ];

    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// Where the scenarios send their telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stack {
    /// `docker/otel-stack`: asserted through Jaeger's and Prometheus's APIs.
    Docker,
}

/// Options of `cargo xtask verify`.
#[derive(clap::Args)]
pub struct Options {
    /// Run only these steps.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Step>,
    /// Run only this example's scenario (and standalone build).
    #[arg(long)]
    pub example: Option<String>,
    /// Run only the per-package steps (clippy, test, standalone, scenarios,
    /// run), over shard K of N of the workspace: hosted CI runs the N
    /// shards as parallel jobs and the other steps in one more job.
    #[arg(long, value_name = "K/N", conflicts_with = "example")]
    pub shard: Option<repo::Shard>,
    /// Run every step even after one failed.
    #[arg(long)]
    pub keep_going: bool,
    /// Treat a skipped step (a missing program) as a failure, as CI does.
    #[arg(long)]
    pub require_all: bool,
    /// First install what the steps need and this machine lacks
    /// (`cargo xtask setup`: apt on Debian and Ubuntu, rustup).
    #[arg(long)]
    pub install: bool,
    /// Accept changed trace snapshots and write them.
    #[arg(long)]
    pub bless: bool,
    /// Run the scenarios against a docker stack and assert through
    /// Jaeger's and Prometheus's query APIs.
    #[arg(long, value_enum)]
    pub stack: Option<Stack>,
}

struct Row {
    step: Step,
    result: String,
    seconds: f64,
}

/// Runs the steps; fails when any step fails (or is skipped, with `require_all`).
pub async fn run(options: &Options) -> Result<()> {
    // Checked before any step runs: a missing engine is said at once.
    if options.stack.is_some() {
        docker::require_engine().context("--stack docker cannot run")?;
    }
    if options.install {
        crate::setup::install()
            .context("--install could not set this machine up")?;
    }
    let steps = chosen_steps(options)?;
    let selection = match (&options.shard, &options.example) {
        (Some(shard), _) => Selection::Shard(*shard),
        (None, Some(slug)) => Selection::Example(slug.clone()),
        (None, None) => Selection::All,
    };
    let chosen = selection.chosen()?;
    if let Some(shard) = &options.shard {
        let slugs: Vec<&str> =
            chosen.examples.iter().map(|e| e.slug.as_str()).collect();
        let packages = chosen.packages.as_deref().unwrap_or_default();
        println!(
            "shard {shard}: the examples {}; clippy and the tests of {}",
            slugs.join(", "),
            packages.join(", ")
        );
    }
    // The pinned tools later steps need, installed while earlier ones run.
    let mut tools: Vec<(Step, CargoTool)> = Vec::new();
    for step in &steps {
        tools.extend(step_tools(*step, &chosen)?.into_iter().map(|t| (*step, t)));
    }
    // Installed from the start: a second wave started with the scenarios
    // (which leave a core idle) made their first builds wait on Cargo's
    // package cache lock, held by the install, on a cold run.
    let prefetch = Prefetch::start(tools.iter().map(|(_, t)| t.clone()).collect());
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let total = Instant::now();
    // Started on first need, stopped when verify ends.
    let shared = services::Shared::default();
    for (i, step) in steps.iter().enumerate() {
        let n = format!("[{}/{}]", i + 1, steps.len());
        println!("\n{n} {} ...", step.name());
        let started = Instant::now();
        for (_, tool) in tools.iter().filter(|(s, _)| s == step) {
            prefetch.wait_for(tool);
        }
        let outcome = run_step(*step, options, &chosen, &shared).await;
        let seconds = started.elapsed().as_secs_f64();
        let result = match &outcome {
            Ok(Outcome::Passed) => "ok".to_owned(),
            Ok(Outcome::Skipped(why)) if options.require_all => {
                failed.push((
                    *step,
                    format!("skipped, and --require-all forbids skips: {why}"),
                ));
                "FAILED (skip)".to_owned()
            }
            Ok(Outcome::Skipped(why)) => format!("skipped: {why}"),
            Err(error) => {
                failed.push((*step, format!("{error:#}")));
                "FAILED".to_owned()
            }
        };
        println!("{n} {} {result} in {seconds:.1}s", step.name());
        if let Some((_, message)) = failed.last().filter(|(s, _)| s == step) {
            eprintln!("\n{message}\n");
            eprintln!("rerun this step: {}", rerun_command(*step, options));
        }
        rows.push(Row {
            step: *step,
            result,
            seconds,
        });
        if !failed.is_empty() && !options.keep_going {
            break;
        }
    }
    print_summary(&rows, total.elapsed().as_secs_f64());
    if failed.is_empty() {
        return Ok(());
    }
    let mut message = String::from("verify failed:");
    for (step, _) in &failed {
        let _ = write!(
            message,
            "\n  {}: rerun with `{}`",
            step.name(),
            rerun_command(*step, options)
        );
    }
    bail!("{message}")
}

/// The steps `--only` and `--shard` leave, in their order.
fn chosen_steps(options: &Options) -> Result<Vec<Step>> {
    if options.shard.is_some()
        && let Some(step) =
            options.only.iter().find(|s| !Step::PER_PACKAGE.contains(s))
    {
        bail!(
            "--shard splits only {}; `{}` covers the whole repository: run it without --shard",
            names(Step::PER_PACKAGE),
            step.name()
        );
    }
    Ok(Step::value_variants()
        .iter()
        .copied()
        .filter(|s| options.only.is_empty() || options.only.contains(s))
        .filter(|s| options.shard.is_none() || Step::PER_PACKAGE.contains(s))
        .collect())
}

/// The examples whose packages the tests cover: the shard's, or
/// all of them when they cover the workspace (also with `--example`).
fn packages_examples(chosen: &Chosen) -> Result<Vec<repo::Example>> {
    match chosen.packages {
        Some(_) => Ok(chosen.examples.clone()),
        None => repo::examples(),
    }
}

/// Every step's name, in order.
pub fn all_step_names() -> Vec<String> {
    Step::value_variants().iter().map(|s| s.name()).collect()
}

/// The names of the steps `--shard` splits.
pub fn per_package_step_names() -> Vec<String> {
    Step::PER_PACKAGE.iter().map(|s| s.name()).collect()
}

fn names(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pinned tools `step` installs on first use, for [`Prefetch`].
fn step_tools(step: Step, chosen: &Chosen) -> Result<Vec<CargoTool>> {
    Ok(match step {
        Step::Scenarios | Step::Run => {
            let mut front_ends = false;
            for example in &chosen.examples {
                front_ends |= !crate::web::front_ends(example)?.is_empty();
            }
            match front_ends {
                true => vec![crate::web::wasm_bindgen_tool()?],
                false => Vec::new(),
            }
        }
        Step::Benches => {
            vec![crate::bench::rate::oha_tool(crate::bench::Build::Debug)]
        }
        Step::Book => vec![book::mdbook_tool()],
        _ => Vec::new(),
    })
}

/// One step: a call into the part that does it.
async fn run_step(
    step: Step,
    options: &Options,
    chosen: &Chosen,
    shared: &services::Shared,
) -> Result<Outcome> {
    let examples = chosen.examples.as_slice();
    let packages = chosen.packages.as_deref();
    // One example builds alone; otherwise the binaries are built as the
    // test step built the workspace (or the shard), reusing its work.
    let build = match options.example {
        Some(_) => scenario::BuildScope::Alone,
        None => scenario::BuildScope::LikeTests(packages),
    };
    match step {
        Step::Pins => checks::problems("pins", pins::check(false)?),
        Step::Generated => checks::problems("generated files", generate::stale()?),
        Step::Snippets => snippets::step(),
        Step::Fmt => cargo::fmt(),
        Step::Clippy => cargo::clippy(packages),
        Step::Test => {
            cargo::test(packages, &packages_examples(chosen)?, shared).await
        }
        Step::Standalone => checks::standalone::run(examples),
        Step::Scenarios => {
            let scenario_options = scenario::Options {
                examples,
                build,
                bless: options.bless,
                stack: options.stack.is_some(),
            };
            scenario::run_all(&scenario_options, shared).await
        }
        Step::Run => checks::interrupt::step(examples, build).await,
        Step::Benches => crate::bench::smoke(),
        Step::Interop => match interop::missing_programs() {
            Some(missing) => Ok(Outcome::Skipped(missing)),
            None => interop::run().await.map(|()| Outcome::Passed),
        },
        Step::Book => {
            book::build()?;
            book::pages::check(&crate::repo::target_dir().join("book")).await
        }
        Step::Workflows => {
            let (all, per_package) = (all_step_names(), per_package_step_names());
            checks::workflows::run(&checks::workflows::Steps {
                all: &all,
                per_package: &per_package,
            })
        }
        Step::Stacks => match stacks::check()? {
            None => Ok(Outcome::Skipped(docker::PACKAGES.hint())),
            Some(found) => checks::problems("the docker stacks", found),
        },
    }
}

fn rerun_command(step: Step, options: &Options) -> String {
    let mut command = format!("cargo xtask verify --only {}", step.name());
    if let Some(shard) = &options.shard {
        let _ = write!(command, " --shard {shard}");
    } else if matches!(step, Step::Scenarios | Step::Standalone | Step::Run)
        && let Some(example) = &options.example
    {
        let _ = write!(command, " --example {example}");
    }
    command
}

fn print_summary(rows: &[Row], total: f64) {
    println!("\n{:<12} {:>8}  result", "step", "seconds");
    for row in rows {
        println!(
            "{:<12} {:>8.1}  {}",
            row.step.name(),
            row.seconds,
            row.result
        );
    }
    println!("{:<12} {:>8.1}", "total", total);
    let passed = rows.iter().filter(|r| r.result == "ok").count();
    let skipped = rows
        .iter()
        .filter(|r| r.result.starts_with("skipped"))
        .count();
    let failed = rows.len() - passed - skipped;
    println!("verify: {passed} passed, {failed} failed, {skipped} skipped");
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    fn options(args: &[&str]) -> Options {
        let mut argv = vec!["verify"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap().options
    }

    #[test]
    fn a_shard_runs_the_per_package_steps_only() {
        assert_eq!(
            chosen_steps(&options(&["--shard", "1/4"])).unwrap(),
            Step::PER_PACKAGE
        );
        assert_eq!(
            chosen_steps(&options(&["--shard", "2/4", "--only", "test"])).unwrap(),
            [Step::Test]
        );
        let error = chosen_steps(&options(&["--shard", "2/4", "--only", "book"]))
            .unwrap_err();
        assert!(format!("{error:#}").contains("`book` covers the whole repository"));
        assert_eq!(
            chosen_steps(&options(&[])).unwrap().len(),
            Step::value_variants().len()
        );
        assert!(Cli::try_parse_from(["verify", "--shard", "5/4"]).is_err());
        assert!(
            Cli::try_parse_from(["verify", "--shard", "1/4", "--example", "x"])
                .is_err()
        );
    }

    /// The hosted workflow's jobs run every step between them.
    #[test]
    fn the_ci_workflow_covers_every_step() {
        let text = std::fs::read_to_string(repo::root().join(checks::workflows::CI))
            .unwrap();
        let (all, per_package) = (all_step_names(), per_package_step_names());
        let found = checks::workflows::coverage_problems(
            &text,
            &checks::workflows::Steps {
                all: &all,
                per_package: &per_package,
            },
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
