//! `cargo xtask`: the book's tool. Run `cargo xtask --help`.

mod backends;
mod bench;
mod book;
mod breaker_bench;
mod cases;
mod collector;
mod ddagent;
mod ecosystem;
mod generate;
mod interop;
mod live;
mod operator_bench;
mod pins;
mod polars_bench;
mod postgres;
mod prometheus;
mod received;
mod rotel;
mod scenario;
mod snippets;
mod stack;
mod tree;
mod verify;
mod waterfall;
mod web;
mod webdriver;
mod workspace;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

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
    Verify {
        /// Run only these steps.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<verify::Step>,
        /// Run only this example's scenario.
        #[arg(long)]
        example: Option<String>,
        /// Run every step even after one failed.
        #[arg(long)]
        keep_going: bool,
        /// Treat a skipped step (a missing program) as a failure, as CI does.
        #[arg(long)]
        require_all: bool,
        /// Accept changed trace snapshots and write them.
        #[arg(long)]
        bless: bool,
        /// Run the scenarios against a docker stack (`docker`: docker/otel-stack)
        /// and assert through Jaeger's and Prometheus's query APIs.
        #[arg(long, value_name = "docker")]
        stack: Option<String>,
    },
    /// Check (or rewrite) the examples' versions against the pin table.
    Pins {
        /// Report differences and fail (the default).
        #[arg(long, conflicts_with = "write")]
        check: bool,
        /// Rewrite the examples' versions from the pin table.
        #[arg(long)]
        write: bool,
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
    },
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
    /// Serve the book on localhost with live reload.
    Serve {
        #[arg(long, default_value_t = 3001)]
        port: u16,
    },
    /// Measure an example under load (release builds).
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        target: BenchTarget,
        /// Seconds of load per mode and round.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Alternating rounds of off/on.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Orders to generate (polars).
        #[arg(long, default_value_t = 5_000_000)]
        rows: usize,
        /// Customers (polars).
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        /// Reconciles to run before measuring (kube-operator).
        #[arg(long, default_value_t = 1_000)]
        reconciles: usize,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StackAction {
    Up,
    Down,
    Status,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
    /// The axum quickstart, telemetry on versus `OTEL_SDK_DISABLED=true`.
    Quickstart,
    /// The circuit-breaker example with its downstream hanging, breaker on
    /// versus off.
    CircuitBreaker,
    /// The polars-pipeline example against the same pipeline in pandas.
    Polars,
    /// The kube-operator's memory after many reconciles (against its
    /// in-memory API server).
    KubeOperator,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    match task {
        Task::Verify {
            only,
            example,
            keep_going,
            require_all,
            bless,
            stack,
        } => verify::run(&verify::Options {
            only,
            example,
            keep_going,
            require_all,
            bless,
            stack,
        }),
        Task::Pins { check: _, write } => {
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
        Task::Gen { check } => {
            if check {
                let stale = generate::stale()?;
                if !stale.is_empty() {
                    bail!("{}", stale.join("\n"));
                }
                println!("generated files are fresh");
                Ok(())
            } else {
                generate::write()
            }
        }
        Task::New { slug } => {
            let dir = generate::new_example(&slug)?;
            println!(
                "\n{} is ready: `cargo xtask verify --only scenarios --example {slug} --bless` runs it",
                workspace::relative(&dir)
            );
            Ok(())
        }
        Task::Collector {
            grpc_port,
            http_port,
            quiet,
        } => runtime()?.block_on(live::run(grpc_port, http_port, quiet)),
        Task::Web => web::run(),
        Task::Stack { action, name } => {
            let action = match action {
                StackAction::Up => "up",
                StackAction::Down => "down",
                StackAction::Status => "status",
            };
            stack::run(action, name.as_deref())
        }
        Task::Book => book::build(),
        Task::Serve { port } => book::serve(port),
        Task::Bench {
            target: BenchTarget::Quickstart,
            seconds,
            concurrency,
            rounds,
            ..
        } => bench::quickstart(&bench::Load {
            seconds,
            concurrency,
            rounds,
        }),
        Task::Bench {
            target: BenchTarget::KubeOperator,
            reconciles,
            ..
        } => operator_bench::run(reconciles),
        Task::Bench {
            target: BenchTarget::Polars,
            rows,
            customers,
            ..
        } => polars_bench::run(rows, customers),
        Task::Bench {
            target: BenchTarget::CircuitBreaker,
            seconds,
            concurrency,
            rounds,
            ..
        } => breaker_bench::run(&breaker_bench::Load {
            seconds,
            concurrency,
            rounds,
        }),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
