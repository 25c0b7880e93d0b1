//! Scenarios: each example's `scenario.toml` says how to start it, what
//! traffic to drive and what telemetry must arrive (`spec`); the runner
//! starts the embedded collector, the services it needs and the example's
//! processes (`runner`), drives the traffic (`traffic`), and the judge
//! (`judge`, one entry point for every verdict; the telemetry rules in
//! `expect`) compares what arrived with what was expected; the normalised
//! trees are the book's snapshots (`snapshot`). Programs that run to
//! completion instead of serving have `cases.toml` (`cases`).

pub mod cases;
pub mod expect;
pub mod flush;
pub mod judge;
pub mod misconfig;
pub mod runner;
pub mod snapshot;
pub mod spec;
pub mod traffic;

use anyhow::{Context as _, Result, bail};

use crate::builds;
use crate::otlp::{map, waterfall};
use crate::repo::{self, Example, relative};
use crate::services::{self, Need, docker};
use crate::tools::Outcome;
use crate::{proc, web};

/// The `scenarios` step's options.
pub struct Options<'a> {
    /// The examples whose scenarios run.
    pub examples: &'a [Example],
    /// How their binaries are built.
    pub build: BuildScope<'a>,
    /// Write changed snapshots instead of failing.
    pub bless: bool,
    /// Against the docker stack instead of the embedded collector.
    pub stack: bool,
}

/// Builds the examples' binaries and front ends, then runs every chosen
/// example's scenario (or cases). An example whose needs this machine
/// lacks is skipped, with what to install.
pub async fn run_all(
    options: &Options<'_>,
    shared: &services::Shared,
) -> Result<Outcome> {
    let mut loaded = Vec::new();
    for example in options.examples.iter().cloned() {
        let scenario = match example.scenario_path() {
            path if path.exists() => Some(spec::load(&path)?),
            _ => None,
        };
        loaded.push((example, scenario));
    }
    let needs = |scenario: &Option<spec::Scenario>, need: Need| {
        scenario.as_ref().is_some_and(|s| s.needs(need))
    };
    build(&loaded, options.build)?;
    let stack = if options.stack {
        docker::run("up", Some(docker::STACK))?;
        Some(docker::Backends::local())
    } else {
        None
    };
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut hints = Vec::new();
    for (example, scenario) in &loaded {
        let lacking: Vec<String> = scenario
            .iter()
            .flat_map(|s| &s.needs)
            .filter_map(|need| need.missing())
            .collect();
        if !lacking.is_empty() {
            println!("  {} skipped: {}", example.slug, lacking.join("; "));
            skipped.push(example.slug.clone());
            hints.extend(lacking);
            continue;
        }
        if stack.is_some() && needs(scenario, Need::DatadogAgent) {
            println!(
                "  {} skipped: its receiver is Datadog's test agent, not the stack",
                example.slug
            );
            continue;
        }
        if stack.is_some() && needs(scenario, Need::Tls) {
            println!(
                "  {} skipped: its processes export to the embedded collector's \
                 TLS listeners, which the stack's collector does not have",
                example.slug
            );
            continue;
        }
        let run =
            run_example(example, scenario.as_ref(), shared, options, stack.as_ref());
        if let Err(error) = run.await {
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
        return Ok(Outcome::Passed);
    }
    hints.sort_unstable();
    hints.dedup();
    Ok(Outcome::Skipped(format!(
        "{} not run: {}",
        skipped.join(", "),
        hints.join("; ")
    )))
}

/// How the scenarios' binaries are built.
#[derive(Debug, Clone, Copy)]
pub enum BuildScope<'a> {
    /// With the `test` step's selection (`None`: the workspace) and its
    /// resolution of features, reusing what that step compiled: verify over
    /// every example, or a shard.
    LikeTests(Option<&'a [String]>),
    /// The examples' own packages alone: quicker for one example.
    Alone,
}

/// Builds what the scenarios of `loaded` start: every example's binaries
/// in one cargo invocation, and the browser front ends, unless the browser
/// they need is missing. The `run` step calls it too, so that it never
/// depends on an earlier step's build.
pub fn build(
    loaded: &[(Example, Option<spec::Scenario>)],
    scope: BuildScope<'_>,
) -> Result<()> {
    let mut packages = Vec::new();
    for (example, _) in loaded {
        packages.extend(example.server_packages()?);
    }
    match scope {
        BuildScope::LikeTests(selection) => {
            builds::binaries(selection, &repo::binaries_of(&packages)?)?;
        }
        BuildScope::Alone => {
            let mut build = vec!["build", "--locked", "--bins"];
            for package in &packages {
                build.extend(["--package", package.as_str()]);
            }
            proc::run("cargo", &build)?;
        }
    }
    let browser_missing = Need::Browser.missing().is_some();
    let mut front_ends = Vec::new();
    for (example, scenario) in loaded {
        let needs_browser =
            scenario.as_ref().is_some_and(|s| s.needs(Need::Browser));
        if !(browser_missing && needs_browser) {
            front_ends.extend(web::front_ends(example)?);
        }
    }
    // Linted as the `standalone` step linted them, so that build is reused.
    for built in web::build(&front_ends, web::DEV_PROFILE, web::Lints::Deny)? {
        println!(
            "  {}: {} bytes of wasm, {} gzipped (profile {}; the book's sizes: `cargo xtask web`)",
            built.package,
            built.raw_bytes,
            built.gzip_bytes,
            web::DEV_PROFILE
        );
    }
    Ok(())
}

/// The examples among `examples` whose scenario says they need `need`.
pub fn examples_needing(examples: &[Example], need: Need) -> Result<Vec<&Example>> {
    let mut needing = Vec::new();
    for example in examples {
        let path = example.scenario_path();
        if path.exists() && spec::load(&path)?.needs(need) {
            needing.push(example);
        }
    }
    Ok(needing)
}

/// One example: its cases, then its scenario, then its snapshots.
async fn run_example(
    example: &Example,
    scenario: Option<&spec::Scenario>,
    shared: &services::Shared,
    options: &Options<'_>,
    stack: Option<&docker::Backends>,
) -> Result<()> {
    let cases_path = example.cases_path();
    if cases_path.exists() {
        let cases = cases::load(&cases_path)?;
        cases::build_separate_packages(&cases)?;
        let table = cases::run(&cases, &example.package).await?;
        snapshot::compare_or_bless(
            &example.snapshot_path(),
            &table,
            options.bless,
            true,
        )?;
        if scenario.is_none() {
            return Ok(());
        }
    }
    let scenario = scenario.with_context(|| {
        format!(
            "{} is missing: every example declares how it is run and what it must emit \
             (or, for programs that run to completion, a cases.toml)",
            relative(&example.scenario_path())
        )
    })?;
    let reports = runner::run(example, scenario, shared, stack).await?;
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
    // Flushed at SIGTERM: checked against the embedded collector only.
    if stack.is_none()
        && let Some(flushed) = flush::check(example, scenario, shared).await?
    {
        println!(
            "  {} flush: {} requests to {}, SIGTERM, {} server spans arrived (exit in {:.1}s)",
            example.slug,
            flushed.requests,
            flushed.process,
            flushed.arrived,
            flushed.stop.as_secs_f64()
        );
    }
    if stack.is_none()
        && let Some(refused) = misconfig::check(example, scenario).await?
    {
        println!(
            "  {} misconfigured: {} runs of {} binaries, one malformed value each, \
             each refused with exit 1 naming it (slowest {:.2}s)",
            example.slug,
            refused.runs,
            refused.binaries,
            refused.slowest.as_secs_f64()
        );
    }
    if stack.is_some() {
        let expect = &scenario.expect;
        if !(expect.log.is_empty() && expect.request.is_empty()) {
            println!(
                "  {}: {} log and {} export-request expectations not checked: \
                 the stack keeps neither",
                example.slug,
                expect.log.len(),
                expect.request.len()
            );
        }
        // The snapshots describe the embedded collector's runs.
        return Ok(());
    }
    let first = reports
        .first()
        .context("a scenario runs with at least one protocol")?;
    let text = snapshot::render_snapshot(&first.received, &scenario.snapshot);
    let title = format!(
        "{}: traces of one scenario run (times normalised)",
        example.slug
    );
    let svg = waterfall::render_spans(
        snapshot::spans(&scenario.snapshot, &first.received),
        &title,
        scenario.snapshot.distinct,
    );
    // The text first: its difference is the one a reader can follow.
    snapshot::compare_or_bless(
        &example.snapshot_path(),
        &text,
        options.bless,
        true,
    )?;
    keep_screenshots(example, scenario, options.bless)?;
    // The services and the calls between them, from every span of the run.
    let all: Vec<_> = first.received.spans.iter().collect();
    let map = map::render(
        &all,
        &format!("{}: services and the calls between them", example.slug),
    );
    snapshot::compare_or_bless(&example.map_path(), &map, options.bless, false)?;
    // Concurrent siblings finish in either order: their bars may swap, the
    // rows may not.
    let drawn =
        std::fs::read_to_string(example.waterfall_path()).unwrap_or_default();
    if scenario.snapshot.concurrent
        && waterfall::without_timings(&drawn) == waterfall::without_timings(&svg)
    {
        return Ok(());
    }
    snapshot::compare_or_bless(&example.waterfall_path(), &svg, options.bless, false)
}

/// The run's screenshots go where the chapter shows them with `--bless`;
/// pixels differ from run to run, so without it they are only required to
/// be there.
fn keep_screenshots(
    example: &Example,
    scenario: &spec::Scenario,
    bless: bool,
) -> Result<()> {
    let generated = example
        .snapshot_path()
        .parent()
        .context("the snapshot has a directory")?
        .to_owned();
    for step in &scenario.browser {
        let spec::BrowserStep::Screenshot { file } = step else {
            continue;
        };
        let kept = generated.join(file);
        if bless {
            std::fs::copy(traffic::screenshot_path(file), &kept)
                .with_context(|| format!("cannot write {}", relative(&kept)))?;
            println!("  blessed {}", relative(&kept));
        } else if !kept.is_file() {
            bail!(
                "{} is missing; rerun with --bless to keep this run's screenshot",
                relative(&kept)
            );
        }
    }
    Ok(())
}
