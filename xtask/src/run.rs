//! `cargo xtask run [SLUG]`: one command to see an example's telemetry.
//! It builds the example, starts the embedded collector (each trace printed
//! as a tree when it has arrived) and everything the example's
//! `scenario.toml` starts, throwaway services included; drives the
//! scenario's traffic once; then keeps it all up and prints the addresses,
//! so the reader can send requests of their own, until Ctrl-C or SIGTERM.
//! Then it stops every process, servers before the services they report
//! to, and prints what arrived. A program that runs to completion (a job,
//! the troubleshooting cases) runs once and the command ends.

use anyhow::{Context as _, Result, bail};
use tokio::sync::{mpsc, oneshot};

use crate::otlp::collector::{Arrival, Collector};
use crate::otlp::live;
use crate::proc::{self, Interrupts};
use crate::repo::{self, Example};
use crate::scenario::runner::{Run, Session};
use crate::scenario::{cases, spec};
use crate::services;
use crate::web;

/// The example `cargo xtask run` starts without a slug.
pub const DEFAULT: &str = "axum-quickstart";

/// The line printed once everything is up (the test of this command waits
/// for it before it interrupts).
pub const READY: &str = "Ctrl-C stops everything";

/// Runs `slug` until interrupted; `build`: build it first.
pub async fn run(slug: &str, build_first: bool) -> Result<()> {
    let example = repo::example(slug)?;
    // Caught before anything starts: a Ctrl-C during the start still stops
    // what has started.
    let mut interrupts = Interrupts::listen()?;
    proc::own_process_groups();

    let scenario_path = example.scenario_path();
    if !scenario_path.exists() {
        return run_cases(&example, build_first).await;
    }
    let scenario = spec::load(&scenario_path)?;
    let lacking: Vec<String> = scenario
        .needs
        .iter()
        .filter_map(|need| need.missing())
        .collect();
    if !lacking.is_empty() {
        bail!("{} needs: {}", example.slug, lacking.join("; "));
    }
    if build_first {
        build(&example)?;
    }

    let (arrivals, received) = mpsc::unbounded_channel();
    let collector = Collector::start_with(0, 0, Some(arrivals.clone())).await?;
    println!(
        "collector: OTLP/HTTP on {}, OTLP/gRPC on {}\n",
        collector.http_endpoint(),
        collector.grpc_endpoint()
    );
    let (stop_printing, printing_stopped) = oneshot::channel::<()>();
    let printer = tokio::spawn(live::print(received, async {
        let _ = printing_stopped.await;
    }));

    let shared = services::Shared::default();
    let run = Run::live(&example, &scenario, &shared);
    let mut session = Session::default();
    let started = tokio::select! {
        started = async {
            run.start(&collector, &mut session).await?;
            run.exercise(&mut session).await
        } => Some(started),
        () = interrupts.wait() => None,
    };
    match &started {
        Some(Ok(()))
            if !session.servers.is_empty()
                || session.desktop_display().is_some() =>
        {
            print_addresses(&scenario, &session);
            interrupts.wait().await;
            println!("\nstopping");
        }
        Some(Ok(())) => {
            for (name, printed) in &session.jobs {
                println!("{name} printed:\n{printed}");
            }
        }
        Some(Err(_)) => println!("\nthe scenario failed; stopping"),
        None => println!("\ninterrupted; stopping"),
    }

    let mut problems = session.stop_processes().await;
    // The agent holds the native exports; they become arrivals too.
    let before = collector.store.snapshot().spans.len();
    session.read_back(&collector).await?;
    let spans = collector.store.snapshot().spans.split_off(before);
    if !spans.is_empty() {
        let _ = arrivals.send(Arrival::Spans(spans));
    }
    problems.extend(session.stop_all().await);
    let _ = stop_printing.send(());
    printer.await.context("the live view stopped")?;
    live::print_totals(&collector);
    drop(shared);
    if let Some(Err(error)) = started {
        return Err(error.context(format!("running {}", example.slug)));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

/// The example's binaries and, if it has one, its browser front end.
fn build(example: &Example) -> Result<()> {
    let packages = example.server_packages()?;
    let mut args = vec!["build", "--locked", "--bins"];
    for package in &packages {
        args.extend(["--package", package.as_str()]);
    }
    proc::run("cargo", &args)?;
    web::build(
        &web::front_ends(example)?,
        web::DEV_PROFILE,
        web::Lints::Warn,
    )?;
    Ok(())
}

/// Where each process listens, and a request to try.
fn print_addresses(scenario: &spec::Scenario, session: &Session) {
    println!("\nrunning:");
    for server in &session.servers {
        println!("  {:<24} {}", server.process.name, server.url);
        if let Some(admin) = &server.admin_url {
            println!("  {:<24} {admin}", format!("{}.admin", server.process.name));
        }
    }
    if let (Some(app), Some(display)) = (
        scenario.process.iter().find(|p| p.is_desktop()),
        session.desktop_display(),
    ) {
        println!(
            "  {:<24} a window on the virtual display {display} \
             (DISPLAY={display} xwd -root | xwdtopnm | pnmtopng > app.png)",
            app.name
        );
    }
    if let Some(first) = scenario.traffic.first() {
        let server = first
            .to
            .as_deref()
            .and_then(|to| session.servers.iter().find(|s| s.process.name == to))
            .or(session.servers.first());
        if let Some(server) = server {
            let mut curl = format!("curl -X {}", first.method.as_str());
            for (name, value) in &first.headers {
                curl.push_str(&format!(" -H '{name}: {value}'"));
            }
            if let Some(body) = &first.body {
                curl.push_str(&format!(" -d '{body}'"));
            }
            println!("\ntry: {curl} {}{}", server.url, first.path);
        }
    }
    println!("{READY}\n");
}

/// An example of programs that run to completion: its cases, once.
async fn run_cases(example: &Example, build_first: bool) -> Result<()> {
    let path = example.cases_path();
    if !path.exists() {
        bail!(
            "{} has neither a scenario.toml nor a cases.toml",
            example.slug
        );
    }
    let cases = cases::load(&path)?;
    if build_first {
        proc::run(
            "cargo",
            &["build", "--locked", "--package", &example.package],
        )?;
        cases::build_separate_packages(&cases)?;
    }
    let table = cases::run(&cases, &example.package).await?;
    println!("\n{table}");
    Ok(())
}
