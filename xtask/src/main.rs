//! `cargo xtask`: the book's tool. Run `cargo xtask --help`; the map of its
//! parts is `xtask/README.md`.

mod bench;
mod builds;
mod checks;
mod diagram;
mod otlp;
mod proc;
mod repo;
mod run;
mod scenario;
mod semconv;
mod services;
mod setup;
mod text;
mod tools;
mod verify;
mod web;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use crate::checks::{book, generate, pins};
use crate::services::docker;

#[derive(Parser)]
#[command(
    about = "Pins, generated files, the embedded OTLP collector, scenarios and verify"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check: pins, generated files, fmt, clippy, tests, scenarios, interop, book.
    Verify(verify::Options),
    /// Check (or rewrite) the examples' versions against the pin table.
    Pins {
        /// Report differences and fail (the default).
        #[arg(long, conflicts_with = "write")]
        check: bool,
        /// Rewrite the examples' versions from the pin table.
        #[arg(long)]
        write: bool,
        /// List the pins with a newer compatible release on crates.io and
        /// why each is held back; fail on one held back for no reason.
        #[arg(long, conflicts_with_all = ["check", "write"])]
        outdated: bool,
    },
    /// Write the generated files (telemetry set-up, ...) from their templates.
    Gen {
        /// Only report stale files, and fail if any.
        #[arg(long)]
        check: bool,
    },
    /// Scaffold `examples/<SLUG>` with pinned versions, telemetry, a scenario and a draft chapter.
    New {
        /// Kebab-case name, e.g. `circuit-breaker`.
        slug: String,
    },
    /// Run the embedded OTLP collector and print what arrives.
    Collector {
        /// gRPC port (0 picks a free one).
        #[arg(long, default_value_t = 4317)]
        grpc_port: u16,
        /// HTTP port (0 picks a free one).
        #[arg(long, default_value_t = 4318)]
        http_port: u16,
        /// Print only the addresses and, at Ctrl-C, the totals.
        #[arg(long)]
        quiet: bool,
        /// Also listen over TLS and mutual TLS (free ports), with a CA
        /// made for this run; prints the variables that point a service
        /// at them.
        #[arg(long)]
        tls: bool,
    },
    /// Run an example against the embedded collector: its services, its
    /// traffic once, the traces as they arrive; up until Ctrl-C.
    Run {
        /// The example (a directory of examples/).
        #[arg(default_value = run::DEFAULT)]
        slug: String,
        /// Use the binaries already built (verify's `scenarios` step builds
        /// them all at once).
        #[arg(long)]
        no_build: bool,
    },
    /// Find what verify needs from this machine and install what is
    /// missing (apt on Debian and Ubuntu, rustup).
    Setup,
    /// Build the examples' browser front ends (wasm) into target/web and print their sizes.
    Web,
    /// Start, stop or list a docker stack under docker/ (needs a Docker engine).
    Stack {
        #[arg(value_enum)]
        action: StackAction,
        /// The stack (a directory of docker/); all of them for down and status.
        name: Option<String>,
    },
    /// Build the book into target/book and check its links.
    Book,
    /// Measure each chapter's prose: words a sentence, long sentences,
    /// lines of code shown, and whether it is in the reader's shape.
    Prose {
        /// Another copy of `book/src` to measure (an older commit's).
        #[arg(long)]
        src: Option<std::path::PathBuf>,
    },
    /// Serve the book on localhost with live reload.
    Serve {
        #[arg(long, default_value_t = 3001)]
        port: u16,
    },
    /// Measure an example (release builds).
    Bench(bench::cli::Command),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StackAction {
    Up,
    Down,
    Status,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The one runtime. Blocking work (cargo, installs) runs on this thread
    // inside it; the collector's servers run on its worker threads.
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli.task)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(task: Task) -> Result<()> {
    match task {
        Task::Verify(options) => verify::run(&options).await,
        Task::Pins { outdated: true, .. } => pins::outdated::run().await,
        Task::Pins {
            check: _, write, ..
        } => {
            let problems = pins::check(write)?;
            if problems.is_empty() {
                println!("pins: every example matches the pin table");
                return Ok(());
            }
            bail!(
                "{} problem(s):\n  {}",
                problems.len(),
                problems.join("\n  ")
            )
        }
        Task::Gen { check: true } => {
            let stale = generate::stale()?;
            if !stale.is_empty() {
                bail!("{}", stale.join("\n"));
            }
            println!("generated files are fresh");
            Ok(())
        }
        Task::Gen { check: false } => generate::write(),
        Task::New { slug } => {
            let dir = generate::new_example(&slug)?;
            println!(
                "\n{} is ready: `cargo xtask verify --only scenarios --example {slug} --bless` runs it",
                repo::relative(&dir)
            );
            Ok(())
        }
        Task::Collector {
            grpc_port,
            http_port,
            quiet,
            tls,
        } => otlp::live::run(grpc_port, http_port, quiet, tls).await,
        Task::Run { slug, no_build } => run::run(&slug, !no_build).await,
        Task::Setup => setup::install(),
        Task::Web => web::run(),
        Task::Stack { action, name } => {
            let action = match action {
                StackAction::Up => "up",
                StackAction::Down => "down",
                StackAction::Status => "status",
            };
            docker::run(action, name.as_deref())
        }
        Task::Book => book::build(),
        Task::Prose { src } => checks::shape::print(src.as_deref()),
        Task::Serve { port } => book::serve(port),
        Task::Bench(command) => bench::cli::run(command).await,
    }
}
