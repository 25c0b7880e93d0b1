//! A service that calls a flaky downstream (`pricing`) through a circuit
//! breaker, and makes the breaker visible: its state transitions as span
//! events and log records, every call's outcome as a span attribute and a
//! counter, and each rejected call as a short error span with the reason.
//!
//! Route: `GET /quote` asks pricing for a price, through the breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use failsafe::backoff::Constant;
use failsafe::failure_policy::ConsecutiveFailures;
use failsafe::futures::CircuitBreaker as _;
use failsafe::{Config, StateMachine};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::http::{TracedClient, error_type};

pub mod http;

// ANCHOR: attributes
/// Attribute names for the breaker. The semantic conventions have none yet,
/// so these follow their style: a namespace, then snake case.
pub mod attribute {
    /// Which breaker (a service may protect several dependencies).
    pub const NAME: &str = "circuit_breaker.name";
    /// `closed`, `open` or `half_open` when the call finished.
    pub const STATE: &str = "circuit_breaker.state";
    /// `success`, `failure` or `rejected`.
    pub const OUTCOME: &str = "circuit_breaker.outcome";
}
// ANCHOR_END: attributes

/// How the breaker behaves; read from the environment by `main.rs`.
#[derive(Clone, Debug)]
pub struct BreakerSettings {
    /// `false` calls the downstream directly: the experiment's control.
    pub enabled: bool,
    /// Consecutive failures that open the circuit.
    pub failures_to_open: u32,
    /// How long the circuit stays open before it lets a trial call through.
    pub open_for: Duration,
}

// ANCHOR: state
/// The breaker's state, as the instrumentation last saw it change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}
// ANCHOR_END: state

// ANCHOR: instrument
/// failsafe calls these hooks inside `call`, so each `tracing` event lands
/// in the span of the call that caused the transition: a span event, and
/// (through the log bridge) a log record carrying that span's trace id.
#[derive(Clone, Debug)]
pub struct BreakerTelemetry {
    name: &'static str,
    state: Arc<AtomicU8>,
    transitions: Counter<u64>,
}

impl BreakerTelemetry {
    fn new(name: &'static str, meter: &Meter) -> Self {
        let transitions = meter
            .u64_counter("circuit_breaker.transitions")
            .with_unit("{transition}")
            .with_description("State changes of the circuit breaker, by new state.")
            .build();
        Self {
            name,
            state: Arc::new(AtomicU8::new(BreakerState::Closed as u8)),
            transitions,
        }
    }

    /// The state after the last transition.
    pub fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Relaxed) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// Records a change of state; `false` when there was none (failsafe
    /// reports "closed" once when the breaker is built).
    fn transition(&self, to: BreakerState) -> bool {
        if self.state.swap(to as u8, Ordering::Relaxed) == to as u8 {
            return false;
        }
        self.transitions.add(
            1,
            &[
                KeyValue::new(attribute::NAME, self.name),
                KeyValue::new(attribute::STATE, to.as_str()),
            ],
        );
        true
    }
}

impl failsafe::Instrument for BreakerTelemetry {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        if self.transition(BreakerState::Open) {
            tracing::warn!(circuit_breaker.name = self.name, "circuit opened");
        }
    }

    fn on_half_open(&self) {
        if self.transition(BreakerState::HalfOpen) {
            tracing::info!(circuit_breaker.name = self.name, "circuit half-open");
        }
    }

    fn on_closed(&self) {
        if self.transition(BreakerState::Closed) {
            tracing::info!(circuit_breaker.name = self.name, "circuit closed");
        }
    }
}
// ANCHOR_END: instrument

type Machine = StateMachine<ConsecutiveFailures<Constant>, BreakerTelemetry>;

/// A breaker around one downstream, with its telemetry.
#[derive(Clone, Debug)]
pub struct Breaker {
    machine: Option<Machine>,
    telemetry: BreakerTelemetry,
    calls: Counter<u64>,
}

// ANCHOR: breaker
impl Breaker {
    pub fn new(
        name: &'static str,
        settings: &BreakerSettings,
        meter: &Meter,
    ) -> Self {
        let telemetry = BreakerTelemetry::new(name, meter);
        let policy = failsafe::failure_policy::consecutive_failures(
            settings.failures_to_open,
            failsafe::backoff::constant(settings.open_for),
        );
        let machine = settings.enabled.then(|| {
            Config::new()
                .failure_policy(policy)
                .instrument(telemetry.clone())
                .build()
        });
        let calls = meter
            .u64_counter("circuit_breaker.calls")
            .with_unit("{call}")
            .with_description("Calls through the circuit breaker, by outcome.")
            .build();
        Self {
            machine,
            telemetry,
            calls,
        }
    }

    /// Runs `call` through the breaker inside a span named after the
    /// breaker. The span records the outcome and the state afterwards; a
    /// rejected call is an error span that never reaches the downstream.
    pub async fn call<T, E, F>(&self, call: F) -> Result<T, failsafe::Error<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let span = tracing::info_span!(
            "circuit breaker",
            otel.name = format!("circuit_breaker {}", self.telemetry.name),
            otel.status_code = Empty,
            otel.status_description = Empty,
            { attribute::NAME } = self.telemetry.name,
            { attribute::STATE } = Empty,
            { attribute::OUTCOME } = Empty,
        );
        let result = match &self.machine {
            Some(machine) => machine.call(call).instrument(span.clone()).await,
            None => call
                .instrument(span.clone())
                .await
                .map_err(failsafe::Error::Inner),
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(failsafe::Error::Inner(_)) => "failure",
            Err(failsafe::Error::Rejected) => {
                span.record("otel.status_code", "ERROR");
                span.record(
                    "otel.status_description",
                    "circuit open: call rejected",
                );
                "rejected"
            }
        };
        span.record(attribute::OUTCOME, outcome);
        span.record(attribute::STATE, self.telemetry.state().as_str());
        self.calls.add(
            1,
            &[
                KeyValue::new(attribute::NAME, self.telemetry.name),
                KeyValue::new(attribute::OUTCOME, outcome),
            ],
        );
        result
    }
}
// ANCHOR_END: breaker

/// What the handler shares.
#[derive(Clone)]
pub struct AppState {
    client: TracedClient,
    pricing_url: String,
    breaker: Breaker,
}

impl AppState {
    /// `pricing_url` is the downstream's base URL; each call gives up after
    /// `timeout`.
    pub fn new(
        pricing_url: impl Into<String>,
        timeout: Duration,
        settings: &BreakerSettings,
        meter: &Meter,
    ) -> Self {
        Self {
            client: TracedClient::new(timeout),
            pricing_url: pricing_url.into(),
            breaker: Breaker::new("pricing", settings, meter),
        }
    }
}

/// The service: `GET /quote`, each request a server span and a duration data
/// point.
pub fn app(state: AppState, meter: &Meter) -> Router {
    let routes = Router::new().route("/quote", get(quote)).with_state(state);
    http::instrument(routes, meter)
}

/// Why a call to pricing failed.
#[derive(Debug)]
enum PricingError {
    Unreachable(reqwest::Error),
    Status(StatusCode),
}

// ANCHOR: handler
async fn quote(State(state): State<AppState>) -> Response<Body> {
    let url = format!("{}/price", state.pricing_url);
    let call = async {
        let request = state.client.request(reqwest::Method::GET, &url);
        let response = state
            .client
            .send(request)
            .await
            .map_err(PricingError::Unreachable)?;
        // A 5xx counts against the breaker; the client span already says why.
        if response.status().is_server_error() {
            return Err(PricingError::Status(response.status()));
        }
        Ok(response.json::<Value>().await.unwrap_or(Value::Null))
    };
    match state.breaker.call(call).await {
        Ok(price) => Json(json!({ "quote": price })).into_response(),
        Err(failsafe::Error::Rejected) => {
            tracing::warn!("pricing call rejected: circuit open");
            let mut response =
                error(StatusCode::SERVICE_UNAVAILABLE, "circuit open");
            // The open period is the breaker's; one second is a fair hint.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(failsafe::Error::Inner(PricingError::Unreachable(e)))
            if e.is_timeout() =>
        {
            error(StatusCode::GATEWAY_TIMEOUT, "pricing timed out")
        }
        Err(failsafe::Error::Inner(PricingError::Unreachable(e))) => error(
            StatusCode::BAD_GATEWAY,
            &format!("pricing unreachable ({})", error_type(&e)),
        ),
        Err(failsafe::Error::Inner(PricingError::Status(status))) => error(
            StatusCode::BAD_GATEWAY,
            &format!("pricing answered {}", status.as_u16()),
        ),
    }
}
// ANCHOR_END: handler

fn error(status: StatusCode, message: &str) -> Response<Body> {
    (status, Json(json!({ "error": message }))).into_response()
}
