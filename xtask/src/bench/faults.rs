//! `cargo xtask bench faults`: what the book's set-up loses when its
//! collector fails, and what the failure costs the service's requests. The
//! quickstart (release build) takes `GET /chain` from `oha` at a fixed rate
//! and exports over OTLP/HTTP to the embedded collector through a front
//! that can fail: for a window in the middle of the run it is down (its
//! port closed and its connections cut, then open again on the same port),
//! answers 503, or answers only after a delay. Each fault runs with the
//! book's batch settings and with a larger queue; a run without a fault is
//! the baseline. Counted: requests answered, their server spans arrived
//! (all requests carry one `traceparent`), spans the SDK reports dropped,
//! p99 latency. The run fails if a fault raises the p99 above
//! [`LATENCY_BOUND`] of the baseline's: exporting happens on the batch
//! processor's thread, and a request must not wait for it.
//!
//! The front is written here rather than taken from a proxy crate: it needs
//! three failure modes switched at run time and its connections cut on
//! command, which is a few dozen lines over hyper.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{Build, rate};
use crate::otlp::collector::Collector;
use crate::proc;
use crate::scenario::flush::{self, CALLER_SPAN_ID};

const TRACE_ID: &str = "fa0175000000000000000000000000f1";
/// How much a fault may raise the p99 latency over the baseline's.
pub const LATENCY_BOUND: f64 = 2.0;
/// Added to the bound: below a millisecond, scheduling noise dominates.
const LATENCY_SLACK_MS: f64 = 1.0;

/// What the front does with an export.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Pass,
    Down,
    Unavailable,
    Slow(Duration),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Pass => "none".into(),
            Mode::Down => "down, then up on the same port".into(),
            Mode::Unavailable => "503 to every export".into(),
            Mode::Slow(d) => format!("every answer {:.0} s late", d.as_secs_f64()),
        }
    }
}

#[derive(Clone)]
struct Front {
    mode: Arc<Mutex<Mode>>,
    collector: String,
    client: reqwest::Client,
}

/// Forwards an export to the collector, or fails it as the mode says.
async fn forward(State(front): State<Front>, request: Request) -> Response {
    let mode = *front.mode.lock().unwrap_or_else(|e| e.into_inner());
    match mode {
        Mode::Unavailable => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Pass | Mode::Down => {}
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let url = format!("{}{}", front.collector, parts.uri.path());
    let mut headers = HeaderMap::new();
    for name in ["content-type", "content-encoding"] {
        if let Some(value) = parts.headers.get(name) {
            headers.insert(name, value.clone());
        }
    }
    match front
        .client
        .post(url)
        .headers(headers)
        .body(body)
        .send()
        .await
    {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16())
                .unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = answer.bytes().await.unwrap_or_else(|_| Bytes::new());
            (status, bytes).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Accepts on `listener`, each connection a task of `connections`, so
/// that going down can cut them all.
async fn accept(
    listener: TcpListener,
    router: Router,
    connections: Arc<Mutex<JoinSet<()>>>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    while let Ok((stream, _)) = listener.accept().await {
        let service = TowerToHyperService::new(router.clone());
        let mut set = connections.lock().unwrap_or_else(|e| e.into_inner());
        set.spawn(async move {
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The front on a fixed port: up, or down with nothing listening.
struct Listening {
    port: u16,
    router: Router,
    acceptor: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl Listening {
    async fn up(&mut self) -> Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .with_context(|| {
                format!("the front cannot listen on port {} again", self.port)
            })?;
        self.port = listener.local_addr()?.port();
        self.acceptor = Some(tokio::spawn(accept(
            listener,
            self.router.clone(),
            self.connections.clone(),
        )));
        Ok(())
    }

    /// Closes the port and cuts every connection, as a killed process would.
    /// The acceptor is awaited after its abort, so that no connection it
    /// accepted meanwhile escapes the cut.
    async fn down(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
            let _ = acceptor.await;
        }
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
    }
}

impl Drop for Listening {
    /// On every path out of a run, the port and the connections go.
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
    }
}

/// One run's counts.
struct Outcome {
    fault: Mode,
    queue: &'static str,
    answered: u64,
    arrived: usize,
    dropped: u64,
    p99_ms: f64,
}

pub async fn run(rate: u64, seconds: u64, window: u64, build: Build) -> Result<()> {
    let bin = super::build(build, &["example-axum-quickstart"])?
        .join("example-axum-quickstart");
    let oha = rate::oha(build)?;
    println!(
        "axum-quickstart: GET /chain at {rate} req/s for {seconds} s; the collector's front \
         fails for {window} s from second {}",
        (seconds - window) / 2
    );
    let smoke = build == Build::Debug;
    // The smoke run proves the front works: one fault, one queue.
    let faults: &[Mode] = if smoke {
        &[Mode::Pass, Mode::Down]
    } else {
        &[
            Mode::Pass,
            Mode::Down,
            Mode::Unavailable,
            Mode::Slow(Duration::from_secs(5)),
        ]
    };
    let queues: &[(&str, Option<&str>)] = if smoke {
        &[("2048 (default)", None)]
    } else {
        &[("2048 (default)", None), ("65536", Some("65536"))]
    };
    let mut outcomes = Vec::new();
    for &fault in faults {
        for &(queue, size) in queues {
            if fault == Mode::Pass && size.is_some() {
                continue;
            }
            let outcome =
                one_run(&bin, &oha, fault, queue, size, rate, seconds, window)
                    .await?;
            println!(
                "  fault {:<32} queue {:<15} {:>7} answered {:>7} arrived {:>6} lost {:>6} \
                 dropped  p99 {:.2} ms",
                outcome.fault.name(),
                outcome.queue,
                outcome.answered,
                outcome.arrived,
                outcome.answered.saturating_sub(outcome.arrived as u64),
                outcome.dropped,
                outcome.p99_ms
            );
            outcomes.push(outcome);
        }
    }
    if smoke {
        // A debug build's latencies mean nothing.
        return Ok(());
    }
    let baseline = outcomes[0].p99_ms;
    let bound = baseline * LATENCY_BOUND + LATENCY_SLACK_MS;
    let slowed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.p99_ms > bound)
        .map(|o| {
            format!(
                "{} (queue {}): p99 {:.2} ms",
                o.fault.name(),
                o.queue,
                o.p99_ms
            )
        })
        .collect();
    if !slowed.is_empty() {
        bail!(
            "a collector fault slowed the service's requests past {bound:.2} ms (the \
             baseline's p99 {baseline:.2} ms x {LATENCY_BOUND} + {LATENCY_SLACK_MS} ms):\n  {}",
            slowed.join("\n  ")
        );
    }
    println!(
        "p99 latency under every fault within {bound:.2} ms (baseline {baseline:.2} ms)"
    );
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one run's settings, named at the call"
)]
async fn one_run(
    bin: &std::path::Path,
    oha: &std::path::Path,
    fault: Mode,
    queue: &'static str,
    queue_size: Option<&str>,
    rate: u64,
    seconds: u64,
    window: u64,
) -> Result<Outcome> {
    let collector = Collector::start(0, 0).await?;
    let mode = Arc::new(Mutex::new(Mode::Pass));
    let front = Front {
        mode: mode.clone(),
        collector: collector.http_endpoint(),
        client: reqwest::Client::new(),
    };
    let router = Router::new().fallback(forward).with_state(front);
    let mut listening = Listening {
        // Below the ephemeral range, so that no outgoing connection takes
        // the port while the front is down.
        port: proc::free_port()?,
        router,
        acceptor: None,
        connections: Arc::new(Mutex::new(JoinSet::new())),
    };
    listening.up().await?;
    let endpoint = format!("http://127.0.0.1:{}", listening.port);
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("RUST_LOG", "warn"),
    ];
    if let Some(size) = queue_size {
        env.push(("OTEL_BSP_MAX_QUEUE_SIZE", size));
    }
    let service = super::serve("example-axum-quickstart", bin, &env).await?;
    let url = format!("{}/chain", service.url);
    let traceparent = format!("traceparent: 00-{TRACE_ID}-{CALLER_SPAN_ID}-01");
    let arguments = ["-H".to_owned(), traceparent];
    let load = rate::Fixed {
        url: &url,
        rate,
        connections: 16,
        seconds,
        cpus: "0-1",
        request: &arguments,
    };
    let start_fault = Duration::from_secs((seconds - window) / 2);
    let (measured, switched) = tokio::join!(load.run_counted(oha), async {
        tokio::time::sleep(start_fault).await;
        match fault {
            Mode::Down => listening.down().await,
            other => *mode.lock().unwrap_or_else(|e| e.into_inner()) = other,
        }
        tokio::time::sleep(Duration::from_secs(window)).await;
        *mode.lock().unwrap_or_else(|e| e.into_inner()) = Mode::Pass;
        if fault == Mode::Down {
            listening.up().await?;
        }
        anyhow::Ok(())
    });
    switched?;
    let mut service = service;
    // The SDK's shutdown waits for stuck exports: a minute covers them.
    service.process.stop(Duration::from_secs(60)).await?;
    let measured = measured?;
    let dropped = super::overhead::dropped(&service.process.output_lines()).spans;
    let answered = measured.requests;
    // Wait for what is still on its way; a shortfall after that is a loss.
    let arrived = flush::arrived(&collector, TRACE_ID, answered).await;
    listening.down().await;
    Ok(Outcome {
        fault,
        queue,
        answered,
        arrived,
        dropped,
        p99_ms: measured.p99_ms,
    })
}
