//! The real binary, as an orchestrator runs it: exporting to an OTLP/gRPC
//! receiver in this test, stopped with SIGTERM; and serving while its
//! collector hangs.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Span names received by the test's OTLP/gRPC trace receiver, and how
/// many export requests brought them.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>);

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let names = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .map(|s| s.name);
        self.0.lock().unwrap().extend(names);
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_receiver() -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                listener,
            )),
    );
    (addr, received)
}

/// Starts the service binary and returns it with its `http://ADDR`.
fn start_service(env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-axum-quickstart"))
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .env_remove("RUST_LOG_EXPORT")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example binary starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    // Keep draining, so that the service never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for_exit(
    child: &mut Child,
    within: Duration,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {within:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The names of the spans that arrive at an OTLP/gRPC receiver when the
/// service, with `env` besides, answers `n` requests to `/hello` (and more,
/// one at a time, until it has sent `exports` export requests), and is
/// stopped with SIGTERM. Metrics and logs are not exported.
async fn hello_spans(env: &[(&str, &str)], n: usize, exports: usize) -> Vec<String> {
    let (addr, received) = start_receiver().await;
    let endpoint = format!("http://{addr}");
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ];
    all.extend_from_slice(env);
    let (mut service, url) = start_service(&all);
    let client = reqwest::Client::new();
    for _ in 0..n {
        let response = client.get(format!("{url}/hello")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.1.load(Ordering::SeqCst) < exports {
        assert!(Instant::now() < deadline, "fewer than {exports} exports");
        client.get(format!("{url}/hello")).send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&service);
    let status = wait_for_exit(&mut service, Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}");
    received.0.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_n_requests_delivers_n_server_spans() {
    const N: usize = 200;
    // The batch processor exports every 5 s: at SIGTERM, these spans are
    // still queued.
    let names = hello_spans(&[], N, 0).await;
    assert_eq!(
        server_spans(&names),
        N,
        "every request's span must arrive, none twice"
    );
}

/// The names of the spans that arrive for `n` requests to `/hello` with
/// `RUST_LOG_EXPORT` set to `directives`.
async fn spans_exported_with(directives: &str, n: usize) -> Vec<String> {
    hello_spans(&[("RUST_LOG_EXPORT", directives)], n, 0).await
}

fn server_spans(names: &[String]) -> usize {
    names.iter().filter(|n| *n == "GET /hello").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_export_decides_which_spans_are_exported() {
    // The server span is an `info` span of the crate's `http` module.
    assert_eq!(server_spans(&spans_exported_with("warn", 10).await), 0);
    let crate_at_info = "warn,example_axum_quickstart::http=info";
    assert_eq!(
        server_spans(&spans_exported_with(crate_at_info, 10).await),
        10
    );
    // Empty means unset, `info`, though `start_service` sets `RUST_LOG` to
    // `warn`: `RUST_LOG` is the console's alone.
    assert_eq!(server_spans(&spans_exported_with("", 10).await), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_pipeline_is_never_exported() {
    // Every level of every target: still only the service's own spans,
    // none of the exporter's gRPC stack (tonic, tower, h2, hyper). Three
    // exports a tenth of a second apart: spans one export made would leave
    // with the next.
    let env = [
        ("RUST_LOG_EXPORT", "trace"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let names = hello_spans(&env, 10, 3).await;
    assert!(server_spans(&names) >= 10);
    let others: Vec<&String> = names.iter().filter(|n| *n != "GET /hello").collect();
    assert!(
        others.is_empty(),
        "spans of the export pipeline: {others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_set_to_none_is_not_exported() {
    let traces_off = [("OTEL_TRACES_EXPORTER", "none")];
    let names = hello_spans(&traces_off, 20, 0).await;
    // Shut down and flushed: had a span been made, it would be here.
    assert_eq!(names.len(), 0);

    refused(&[("OTEL_LOGS_EXPORTER", "zipkin")]);
}

/// Starts the service with `env` (and `PORT=0` unless `env` sets it), and
/// asserts that it refuses to start: exit 1, the last variable of `env`
/// named with its value.
fn refused(env: &[(&str, &str)]) {
    let output = Command::new(env!("CARGO_BIN_EXE_example-axum-quickstart"))
        .env("PORT", "0")
        .env_remove("RUST_LOG_EXPORT")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let (variable, value) = env.last().expect("a variable to refuse");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{variable}={value:?} is not valid")),
        "{stderr}"
    );
}

/// Accepts connections and never answers: a collector that hangs.
async fn start_hanging_collector() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

async fn latencies(url: &str, n: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = Instant::now();
        let response = client.get(format!("{url}/hello")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        out.push(sent.elapsed());
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_does_not_slow_requests() {
    let hanging = start_hanging_collector().await;
    let endpoint = format!("http://{hanging}");
    let (mut service, url) = start_service(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        // Export often, so exports are in flight (and stuck) while we measure,
        // and give up after 1 s so that shutdown is quick.
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
    ]);
    let (mut baseline, baseline_url) =
        start_service(&[("OTEL_SDK_DISABLED", "true")]);

    let with_hang = latencies(&url, 300).await;
    let without = latencies(&baseline_url, 300).await;

    let p99 = |l: &[Duration]| l[l.len() * 99 / 100];
    // A request that waited on an export would take the 1 s export timeout.
    assert!(
        p99(&with_hang) < p99(&without) * 5 + Duration::from_millis(20),
        "p99 {:?} with a hanging collector, {:?} with telemetry off",
        p99(&with_hang),
        p99(&without)
    );
    assert!(*with_hang.last().unwrap() < Duration::from_millis(500));

    sigterm(&service);
    sigterm(&baseline);
    // Each provider's shutdown waits for its stuck exports, which give up
    // after OTEL_EXPORTER_OTLP_TIMEOUT (1 s here), well inside the SDK's
    // fixed 5 s per provider.
    assert!(
        wait_for_exit(&mut service, Duration::from_secs(10))
            .await
            .success()
    );
    assert!(
        wait_for_exit(&mut baseline, Duration::from_secs(5))
            .await
            .success()
    );
}

#[tokio::test]
async fn a_bad_variable_is_a_clear_error_not_a_panic() {
    refused(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml")]);
    refused(&[("OTEL_SDK_DISABLED", "true"), ("PORT", "seventy")]);
    // A space beside a comma, which tracing-subscriber would take as part of
    // the next target's name.
    refused(&[("RUST_LOG_EXPORT", "warn, my_crate=debug")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_is_reported_once_not_per_batch() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-axum-quickstart"))
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{closed}"))
        // A batch every 50 ms: dozens of failed exports during the test.
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10)).unwrap();
    let url = first.strip_prefix("listening on ").unwrap().to_owned();

    let client = reqwest::Client::new();
    for _ in 0..20 {
        for _ in 0..10 {
            client.get(format!("{url}/hello")).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(15))
            .await
            .success()
    );

    let output: Vec<String> = lines.try_iter().collect();
    let reports = output
        .iter()
        .filter(|l| l.contains("BatchSpanProcessor.ExportError"))
        .count();
    assert_eq!(
        reports,
        1,
        "one report, not one per failed batch:\n{}",
        output.join("\n")
    );
}

/// How long SIGTERM takes to become an exit when the collector hangs and
/// every timeout is the SDK's default: the figure the shutdown chapter
/// quotes. Run with `--nocapture` to see it. The bound: opentelemetry_sdk
/// 0.33 waits at most 5 s in each provider's `shutdown()`, whatever
/// OTEL_EXPORTER_OTLP_TIMEOUT (10 s by default) says, so about 15 s for the
/// three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_collector_exits_within_the_sdk_timeouts() {
    let hanging = start_hanging_collector().await;
    let endpoint = format!("http://{hanging}");
    let (mut service, url) =
        start_service(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let _ = latencies(&url, 20).await;

    let stopping = Instant::now();
    sigterm(&service);
    // Each of the three shutdowns gives up after the SDK's fixed 5 s (the
    // 10 s export timeout is longer), so the exit comes within about 15 s.
    let status = wait_for_exit(&mut service, Duration::from_secs(30)).await;
    let took = stopping.elapsed();
    eprintln!("exit {took:.1?} after SIGTERM, collector hanging, default timeouts");
    assert!(status.success(), "a failed flush is not a crash: {status}");
    assert!(
        took >= Duration::from_secs(4),
        "{took:?}: did the flush not wait?"
    );
}
