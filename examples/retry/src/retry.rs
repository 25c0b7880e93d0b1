//! Retries with backoff, traced: one span per logical operation, one client
//! span per attempt under it, the backoffs as span events, the outcome on
//! the operation's span, and every attempt counted by outcome.
//!
//! The backoff comes from `backon` (exponential, with jitter, a cap on
//! retries and on the total delay); the retry budget, shared by every
//! request of the process, from tower's `TpsBudget`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use reqwest::{Method, StatusCode};
use tower::retry::budget::{Budget as _, TpsBudget};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::http::{TracedClient, error_type};

/// The header that makes a non-idempotent request safe to send twice.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

// ANCHOR: settings
/// How a [`Retrier`] retries.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Retries after the first attempt, at most.
    pub max_retries: usize,
    /// The first backoff; each next one doubles, with jitter.
    pub min_delay: Duration,
    /// No backoff's base grows past this; jitter may add as much again.
    pub max_delay: Duration,
    /// The backoffs of one operation add up to no more than this.
    pub total_delay: Duration,
    /// The retry budget: retries may add this fraction to the requests of
    /// the last ten seconds...
    pub budget_percent: f32,
    /// ...plus this many retries a second, whatever the traffic.
    pub budget_min_per_sec: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            total_delay: Duration::from_secs(2),
            budget_percent: 0.2,
            budget_min_per_sec: 10,
        }
    }
}
// ANCHOR_END: settings

impl Settings {
    /// Exponential from `min_delay`, doubling up to `max_delay`, plus
    /// jitter of up to the base again; all of them together at most
    /// `total_delay`.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries)
            .with_total_delay(Some(self.total_delay))
            .with_jitter()
    }
}

/// Why an operation failed, after how many attempts.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{status} after {attempts} attempt(s)")]
    Status { status: StatusCode, attempts: u32 },
    #[error("{kind} error after {attempts} attempt(s): {source}")]
    Transport {
        kind: &'static str,
        source: reqwest::Error,
        attempts: u32,
    },
}

/// One failed attempt: an answer worth retrying, or no answer.
#[derive(Debug)]
enum Attempt {
    Status(StatusCode),
    Transport(reqwest::Error),
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Status(status) => write!(f, "{status}"),
            Attempt::Transport(error) => write!(f, "{} error", error_type(error)),
        }
    }
}

/// How an operation ended, as `retry.outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    /// A 4xx: the request is wrong, and sending it again will not help.
    ClientError,
    /// Failed, and not retried: neither idempotent nor carrying a key.
    NotRetried,
    /// Failed after the last retry the settings allow.
    GaveUp,
    /// Failed, and the process-wide retry budget had no retry left.
    BudgetExhausted,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::NotRetried => "not_retried",
            Outcome::GaveUp => "gave_up",
            Outcome::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// Sends requests through a [`TracedClient`], retrying what is safe to.
pub struct Retrier {
    client: TracedClient,
    settings: Settings,
    budget: Arc<TpsBudget>,
    attempts: Counter<u64>,
}

impl Retrier {
    /// A retrier with `settings`, and a budget of its own.
    pub fn new(client: TracedClient, settings: Settings, meter: &Meter) -> Self {
        // TpsBudget panics outside these bounds (Finagle's).
        let percent = match settings.budget_percent {
            p if p.is_nan() => 0.0,
            p => p.clamp(0.0, 1000.0),
        };
        let min_per_sec = settings.budget_min_per_sec.min(i32::MAX as u32 - 1);
        let budget = TpsBudget::new(Duration::from_secs(10), min_per_sec, percent);
        Self {
            client,
            settings,
            budget: Arc::new(budget),
            attempts: meter
                .u64_counter("retry.attempts")
                .with_unit("{attempt}")
                .with_description("Attempts, by what came of them.")
                .build(),
        }
    }

    /// The client, to build requests with.
    pub fn client(&self) -> &TracedClient {
        &self.client
    }

    // ANCHOR: call
    /// Sends the request that `request` builds (again for each attempt) in
    /// a span named `operation`, retrying a 5xx, a 429 or a transport error
    /// when the request is idempotent or carries an `Idempotency-Key`.
    pub async fn call(
        &self,
        operation: &'static str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        let span = tracing::info_span!(
            "retry",
            otel.name = operation,
            otel.status_code = Empty,
            otel.status_description = Empty,
            retry.attempts = Empty,
            retry.outcome = Empty,
        );
        let probe = request().build().ok();
        let may_retry = probe.as_ref().is_some_and(safe_to_repeat);
        let method = probe.map_or(Method::POST, |r| r.method().clone());
        // Every operation earns the budget a fraction of a retry.
        self.budget.deposit();
        let sent = AtomicU32::new(0);
        let over_budget = AtomicBool::new(false);
        let (counter, build) = (&sent, &request);
        let attempt = move || async move {
            let resend_count = counter.fetch_add(1, Ordering::Relaxed);
            match self.client.resend(build(), resend_count).await {
                Ok(response) if worth_retrying(response.status()) => {
                    Err(Attempt::Status(response.status()))
                }
                Ok(response) => Ok(response),
                Err(error) => Err(Attempt::Transport(error)),
            }
        };
        let result = attempt
            .retry(self.settings.backoff())
            .sleep(tokio::time::sleep)
            .when(|_| may_retry)
            .adjust(|_, delay| {
                // Each retry spends from the budget; none left, no retry.
                let allowed = delay.is_some() && self.budget.withdraw();
                if delay.is_some() && !allowed {
                    over_budget.store(true, Ordering::Relaxed);
                }
                delay.filter(|_| allowed)
            })
            .notify(|failed, delay| {
                let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                tracing::info!(retry.delay_ms = delay_ms, "{failed}: backing off");
            })
            .instrument(span.clone())
            .await;

        let attempts = sent.load(Ordering::Relaxed);
        let outcome = match &result {
            Ok(response) if response.status().is_client_error() => {
                Outcome::ClientError
            }
            Ok(_) => Outcome::Success,
            Err(_) if !may_retry => Outcome::NotRetried,
            Err(_) if over_budget.load(Ordering::Relaxed) => {
                Outcome::BudgetExhausted
            }
            Err(_) => Outcome::GaveUp,
        };
        self.record(operation, attempts, outcome, &span);
        result.map_err(|failed| {
            let failure = match failed {
                Attempt::Status(status) => Failure::Status { status, attempts },
                Attempt::Transport(source) => Failure::Transport {
                    kind: error_type(&source),
                    source,
                    attempts,
                },
            };
            let message = match outcome {
                Outcome::NotRetried => format!(
                    "{failure}; not retried: {} without an {IDEMPOTENCY_KEY}",
                    method
                ),
                Outcome::BudgetExhausted => {
                    format!("{failure}; retry budget exhausted")
                }
                _ => failure.to_string(),
            };
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", message.as_str());
            span.in_scope(|| tracing::warn!("{operation} failed: {message}"));
            failure
        })
    }
    // ANCHOR_END: call

    /// The operation's attempts and outcome, on its span and in the
    /// counter: every attempt but the last was retried.
    fn record(
        &self,
        operation: &'static str,
        attempts: u32,
        outcome: Outcome,
        span: &tracing::Span,
    ) {
        span.record("retry.attempts", i64::from(attempts));
        span.record("retry.outcome", outcome.as_str());
        let of = |outcome: &'static str| {
            [
                KeyValue::new("retry.operation", operation),
                KeyValue::new("retry.outcome", outcome),
            ]
        };
        if attempts > 1 {
            self.attempts.add(u64::from(attempts - 1), &of("retried"));
        }
        self.attempts.add(1, &of(outcome.as_str()));
    }
}

// ANCHOR: policy
/// Safe to send twice: an idempotent method, or a request that carries an
/// idempotency key for the server to apply it once.
pub fn safe_to_repeat(request: &reqwest::Request) -> bool {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    idempotent || request.headers().contains_key(IDEMPOTENCY_KEY)
}

/// Answers that may be different next time: the server failed, or asked
/// the client to slow down.
pub fn worth_retrying(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}
// ANCHOR_END: policy

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder as _;

    use super::*;

    /// What the book's timeline of the defaults draws: three waits, each
    /// between its base and twice it, the base doubling from `min_delay`.
    #[test]
    fn each_wait_lies_between_its_base_and_twice_it() {
        for _ in 0..200 {
            let waits: Vec<Duration> =
                Settings::default().backoff().build().collect();
            assert_eq!(waits.len(), 3, "{waits:?}");
            for (wait, base) in waits.iter().zip([50, 100, 200]) {
                let base = Duration::from_millis(base);
                assert!(
                    *wait >= base && *wait < 2 * base,
                    "{wait:?}, base {base:?}"
                );
            }
        }
    }
}
