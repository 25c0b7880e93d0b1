//! The breaker against a real downstream (an HTTP server on port 0 whose
//! behaviour each test switches), with spans and metrics recorded in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use example_circuit_breaker::{AppState, BreakerSettings, app};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

/// A downstream that counts the calls that reach it.
#[derive(Clone, Default)]
struct Downstream {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
}

impl Downstream {
    async fn start() -> (Self, String) {
        let downstream = Downstream::default();
        let router = Router::new()
            .route("/price", get(price))
            .with_state(downstream.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, router).into_future());
        (downstream, url)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn price(State(downstream): State<Downstream>) -> (StatusCode, &'static str) {
    downstream.calls.fetch_add(1, Ordering::SeqCst);
    match downstream.mode.load(Ordering::SeqCst) {
        FAIL => (StatusCode::INTERNAL_SERVER_ERROR, "{}"),
        HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, "{}")
        }
        _ => (StatusCode::OK, r#"{"price":42}"#),
    }
}

/// The service under test and what it recorded.
struct Quotes {
    router: Router,
    spans: InMemorySpanExporter,
    tracer: SdkTracerProvider,
    metrics: InMemoryMetricExporter,
    meter: SdkMeterProvider,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Quotes {
    fn new(url: &str, settings: BreakerSettings) -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter = SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(metrics.clone())
                    .build(),
            )
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let guard = tracing::subscriber::set_default(subscriber);
        let m = meter.meter("test");
        let state = AppState::new(url, Duration::from_millis(200), &settings, &m);
        Self {
            router: app(state, &m),
            spans,
            tracer,
            metrics,
            meter,
            _subscriber: guard,
        }
    }

    /// `GET /quote`: the status, the `Retry-After` header and the time taken.
    async fn quote(&self) -> (StatusCode, Option<String>, Duration) {
        let started = Instant::now();
        let request = Request::get("/quote").body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry_after, started.elapsed())
    }

    fn breaker_spans(&self) -> Vec<SpanData> {
        self.tracer.force_flush().unwrap();
        let spans = self.spans.get_finished_spans().unwrap();
        spans
            .into_iter()
            .filter(|s| s.name == "circuit_breaker pricing")
            .collect()
    }

    /// `circuit_breaker.calls` by outcome.
    fn calls(&self, outcome: &str) -> u64 {
        self.meter.force_flush().unwrap();
        let mut total = 0;
        for resource in self.metrics.get_finished_metrics().unwrap() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics() {
                    if metric.name() != "circuit_breaker.calls" {
                        continue;
                    }
                    let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data()
                    else {
                        panic!("circuit_breaker.calls is a u64 sum");
                    };
                    // Cumulative: the last export holds the totals.
                    total = sum
                        .data_points()
                        .filter(|p| {
                            p.attributes().any(|kv| {
                                kv.key.as_str() == "circuit_breaker.outcome"
                                    && kv.value.as_str() == outcome
                            })
                        })
                        .map(|p| p.value())
                        .sum();
                }
            }
        }
        total
    }
}

fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default()
}

fn events(span: &SpanData) -> Vec<String> {
    span.events.iter().map(|e| e.name.to_string()).collect()
}

fn settings(open_for_ms: u64) -> BreakerSettings {
    BreakerSettings {
        enabled: true,
        failures_to_open: 3,
        open_for: Duration::from_millis(open_for_ms),
    }
}

#[tokio::test]
async fn three_failures_open_the_circuit_and_calls_are_then_rejected_unsent() {
    let (downstream, url) = Downstream::start().await;
    let quotes = Quotes::new(&url, settings(60_000));
    downstream.set(FAIL);

    for _ in 0..3 {
        assert_eq!(quotes.quote().await.0, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(downstream.calls(), 3);
    for _ in 0..4 {
        let (status, retry_after, took) = quotes.quote().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert!(
            took < Duration::from_millis(50),
            "a rejection took {took:?}"
        );
    }
    assert_eq!(
        downstream.calls(),
        3,
        "rejected calls must not reach pricing"
    );

    let spans = quotes.breaker_spans();
    assert_eq!(spans.len(), 7);
    assert_eq!(events(&spans[2]), ["circuit opened"]);
    assert_eq!(attribute(&spans[2], "circuit_breaker.state"), "open");
    for rejected in &spans[3..] {
        assert_eq!(attribute(rejected, "circuit_breaker.outcome"), "rejected");
        assert_eq!(
            rejected.status,
            Status::error("circuit open: call rejected")
        );
    }
    assert_eq!(quotes.calls("failure"), 3);
    assert_eq!(quotes.calls("rejected"), 4);
    assert_eq!(quotes.calls("success"), 0);
}

#[tokio::test]
async fn a_trial_call_after_the_open_period_closes_or_reopens_it() {
    let (downstream, url) = Downstream::start().await;
    let quotes = Quotes::new(&url, settings(100));
    downstream.set(FAIL);
    for _ in 0..3 {
        quotes.quote().await;
    }

    // Still failing: the trial call fails and the circuit opens again.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(quotes.quote().await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(quotes.quote().await.0, StatusCode::SERVICE_UNAVAILABLE);

    // Healed: the next trial succeeds and closes it.
    downstream.set(OK);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(quotes.quote().await.0, StatusCode::OK);
    assert_eq!(quotes.quote().await.0, StatusCode::OK);

    let spans = quotes.breaker_spans();
    let trail: Vec<(String, Vec<String>)> = spans
        .iter()
        .map(|s| (attribute(s, "circuit_breaker.outcome"), events(s)))
        .collect();
    let owned = |o: &str, e: &[&str]| {
        (
            o.to_owned(),
            e.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        trail,
        [
            owned("failure", &[]),
            owned("failure", &[]),
            owned("failure", &["circuit opened"]),
            owned("failure", &["circuit half-open", "circuit opened"]),
            owned("rejected", &[]),
            owned("success", &["circuit half-open", "circuit closed"]),
            owned("success", &[]),
        ]
    );
}

#[tokio::test]
async fn a_hanging_downstream_costs_the_timeout_until_the_circuit_opens() {
    let (downstream, url) = Downstream::start().await;
    let quotes = Quotes::new(&url, settings(60_000));
    downstream.set(HANG);

    for _ in 0..3 {
        let (status, _, took) = quotes.quote().await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }
    let (status, _, took) = quotes.quote().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(50), "{took:?}");
}

#[tokio::test]
async fn with_the_breaker_off_every_call_reaches_the_downstream() {
    let (downstream, url) = Downstream::start().await;
    let quotes = Quotes::new(
        &url,
        BreakerSettings {
            enabled: false,
            ..settings(60_000)
        },
    );
    downstream.set(FAIL);
    for _ in 0..10 {
        assert_eq!(quotes.quote().await.0, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(downstream.calls(), 10);
    assert_eq!(quotes.calls("failure"), 10);
    assert_eq!(quotes.calls("rejected"), 0);
}

#[test]
fn bad_settings_are_a_clear_error_not_a_panic() {
    for (variable, value, message) in [
        ("BREAKER", "maybe", r#"BREAKER="maybe" is not valid"#),
        (
            "BREAKER_FAILURES",
            "0",
            r#"BREAKER_FAILURES="0" is not valid"#,
        ),
        (
            "BREAKER_OPEN_MS",
            "soon",
            r#"BREAKER_OPEN_MS="soon" is not valid"#,
        ),
    ] {
        let output = std::process::Command::new(env!(
            "CARGO_BIN_EXE_example-circuit-breaker"
        ))
        .env(variable, value)
        .env("PORT", "0")
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(1), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}
