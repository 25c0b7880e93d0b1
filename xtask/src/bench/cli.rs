//! The command line of `cargo xtask bench`: one subcommand per bench, and
//! `--smoke`, which the verify step `benches` uses: debug builds and the
//! shortest run each bench has, so that a broken bench fails CI without
//! CI judging a number.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use super::Build;
use super::load::Load;
use super::overhead::Handler;

#[derive(Args)]
pub struct Command {
    /// Debug builds and the shortest run: checks that the bench works; its
    /// figures mean nothing.
    #[arg(long, global = true)]
    pub smoke: bool,
    #[command(subcommand)]
    pub target: Target,
}

/// The load of a bench: how long, how many connections, how many rounds.
#[derive(Args)]
pub struct LoadArgs {
    /// Seconds of load per mode and round.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Alternating rounds of the modes.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

impl LoadArgs {
    pub fn load(&self) -> Load {
        Load {
            seconds: self.seconds,
            concurrency: self.concurrency,
            rounds: self.rounds,
            warm_up: true,
        }
    }
}

#[derive(Subcommand)]
pub enum Target {
    /// The axum quickstart, telemetry on versus `OTEL_SDK_DISABLED=true`.
    Quickstart(LoadArgs),
    /// What each piece of telemetry costs a service alone on one CPU, the
    /// book's set-up and others: requests/s at saturation, CPU time per
    /// request and latency at a fixed rate, spans and log records counted.
    Overhead {
        #[command(flatten)]
        load: LoadArgs,
        /// The fixed rate for `GET /hello` (oha), below every mode's
        /// saturation.
        #[arg(long, default_value_t = 10_000)]
        hello_rate: u64,
        /// The fixed rate for `GET /work` (about 190 µs of CPU each).
        #[arg(long, default_value_t = 2_500)]
        work_rate: u64,
        /// Write the figures into the book (`book/src/generated/overhead.*`).
        #[arg(long)]
        record: bool,
    },
    /// Where the bench service's CPU time goes at a fixed rate, by thread
    /// and, on the request path, by crate (`perf record`).
    Profile {
        /// The mode, as `bench overhead` runs it: none, disabled, traces,
        /// traces+metrics, traces+logs, all, sampled, batches-of-64,
        /// collector-down, api, fastrace.
        #[arg(long, default_value = "all")]
        mode: String,
        /// The handler: `/hello`, or `/work` (about 190 µs of CPU).
        #[arg(long, default_value = "/hello")]
        path: String,
        /// Requests per second (oha).
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Seconds sampled.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The embedded collector's ingest on one CPU, beside rotel's: spans/s
    /// in batches of 512 over OTLP/HTTP and gRPC.
    Collector {
        /// Seconds per receiver and protocol.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// The circuit-breaker example with its downstream hanging, breaker on
    /// versus off.
    CircuitBreaker(LoadArgs),
    /// The polars-pipeline example against the same pipeline in pandas.
    Polars {
        /// Orders to generate.
        #[arg(long, default_value_t = 5_000_000)]
        rows: usize,
        /// Customers.
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
    },
    /// The bevy example's frame time with telemetry off, one frame in 60
    /// traced, and every frame traced.
    Bevy {
        /// Frames per mode.
        #[arg(long, default_value_t = 20_000)]
        frames: u64,
    },
    /// What the quickstart loses when its collector is down, answers 503
    /// or answers late for a while, with the default queue and a larger
    /// one; fails if a fault raises the p99 latency past twice the
    /// baseline's.
    Faults {
        /// Requests per second (oha).
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Seconds of load per run.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Seconds the fault lasts, in the middle of the run.
        #[arg(long, default_value_t = 10)]
        window: u64,
    },
    /// The highest request rate at which an example loses no span: its
    /// scenario's processes under a fixed rate, doubled until a span is
    /// lost or the rate is not held, then SIGTERM.
    Lossless {
        /// The example (a directory of `examples/`).
        #[arg(default_value = "axum-quickstart")]
        slug: String,
        /// The first rate, requests/s.
        #[arg(long, default_value_t = 500)]
        from: u64,
        /// The last rate tried.
        #[arg(long, default_value_t = 16_000)]
        up_to: u64,
        /// Seconds of load per rate.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The kube-operator's memory after many reconciles (against its
    /// in-memory API server).
    KubeOperator {
        /// Reconciles to run before measuring.
        #[arg(long, default_value_t = 1_000)]
        reconciles: usize,
    },
}

/// The load of a smoke run: one second, one round, four connections, no
/// warm-up.
const SMOKE_LOAD: Load = Load {
    seconds: 1,
    concurrency: 4,
    rounds: 1,
    warm_up: false,
};

/// A rate every mode holds in a debug build.
const SMOKE_RATE: u64 = 200;

pub async fn run(command: Command) -> Result<()> {
    let smoke = command.smoke;
    let build = if smoke { Build::Debug } else { Build::Release };
    let load = |args: &LoadArgs| if smoke { SMOKE_LOAD } else { args.load() };
    match command.target {
        Target::Quickstart(args) => {
            super::quickstart::run(&load(&args), build).await
        }
        Target::Overhead {
            load: args,
            hello_rate,
            work_rate,
            record,
        } => {
            if smoke && record {
                bail!(
                    "--smoke measures nothing worth recording; leave out --record"
                );
            }
            let hello = Handler {
                path: "/hello",
                rate: if smoke { SMOKE_RATE } else { hello_rate },
            };
            let work = Handler {
                path: "/work",
                rate: work_rate,
            };
            // The smoke run loads one handler: the second adds time, not
            // code.
            let handlers: &[Handler] = if smoke { &[hello] } else { &[hello, work] };
            super::overhead::run(&load(&args), handlers, record, build).await
        }
        Target::Profile {
            mode,
            path,
            rate,
            seconds,
        } => {
            let path = match path.as_str() {
                "/hello" => "/hello",
                "/work" => "/work",
                other => {
                    bail!("--path {other:?}: the handlers are /hello and /work")
                }
            };
            let (rate, seconds) = if smoke {
                (SMOKE_RATE, 1)
            } else {
                (rate, seconds)
            };
            super::profile::run(&mode, Handler { path, rate }, seconds, build).await
        }
        Target::Collector { seconds } => {
            super::collector::run(if smoke { 1 } else { seconds }, build).await
        }
        Target::CircuitBreaker(args) => {
            super::breaker::run(&load(&args), build).await
        }
        Target::Polars { rows, customers } => {
            let (rows, customers) = if smoke {
                (10_000, 1_000)
            } else {
                (rows, customers)
            };
            super::polars::run(rows, customers, build)
        }
        Target::Bevy { frames } => {
            super::bevy::run(if smoke { 100 } else { frames }, build).await
        }
        Target::Faults {
            rate,
            seconds,
            window,
        } => {
            if window >= seconds {
                bail!("--window {window} must be shorter than --seconds {seconds}");
            }
            let (rate, seconds, window) = if smoke {
                (SMOKE_RATE, 3, 1)
            } else {
                (rate, seconds, window)
            };
            super::faults::run(rate, seconds, window, build).await
        }
        Target::Lossless {
            slug,
            from,
            up_to,
            seconds,
        } => {
            let (from, up_to, seconds) = if smoke {
                (SMOKE_RATE, SMOKE_RATE, 1)
            } else {
                (from, up_to, seconds)
            };
            super::lossless::run(&slug, from, up_to, seconds, build).await
        }
        Target::KubeOperator { reconciles } => {
            super::operator::run(if smoke { 10 } else { reconciles }, build).await
        }
    }
}
