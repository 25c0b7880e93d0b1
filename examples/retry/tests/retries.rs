//! The retrier against a real downstream on port 0: attempts as client
//! spans under one operation span, resend counts, backoffs as events, what
//! is not retried (a 4xx, a POST without a key), idempotency keys applied
//! once, the budgets, and retries multiplied across layers.

mod recorded;

use std::sync::Arc;
use std::time::{Duration, Instant};

use example_retry::checkout::{self, Checkout};
use example_retry::http::TracedClient;
use example_retry::payments::{Fault, Payments, routes};
use example_retry::retry::{Failure, IDEMPOTENCY_KEY, Retrier, Settings};
use opentelemetry::Value;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;
use recorded::{Recorded, attribute};
use reqwest::{Method, StatusCode};

/// Serves `router` on a free port; returns its URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn start_payments() -> (String, Payments) {
    let payments = Payments::default();
    (serve(routes(payments.clone())).await, payments)
}

/// Short backoffs, so the tests take milliseconds.
fn quick() -> Settings {
    Settings {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        total_delay: Duration::from_millis(200),
        ..Settings::default()
    }
}

fn retrier(recorded: &Recorded, settings: Settings) -> Retrier {
    Retrier::new(
        TracedClient::new(Duration::from_secs(2)),
        settings,
        &recorded.meter(),
    )
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Value::I64(n)) => Some(n),
        _ => None,
    }
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

/// The client spans under `operation`, in the order they were sent.
fn attempts(recorded: &Recorded, operation: &SpanData) -> Vec<SpanData> {
    let mut spans: Vec<SpanData> = recorded
        .finished_spans()
        .into_iter()
        .filter(|s| s.parent_span_id == operation.span_context.span_id())
        .collect();
    spans.sort_by_key(|s| s.start_time);
    spans
}

// ANCHOR: twice
#[tokio::test]
async fn two_failures_then_a_success_are_three_attempts_in_one_operation() {
    let recorded = Recorded::start();
    let (url, payments) = start_payments().await;
    payments.set_fault(Fault::Fail(2));
    let retrier = retrier(&recorded, quick());
    let client = retrier.client();

    let response = retrier
        .call("fetch price", || {
            client.request(Method::GET, &format!("{url}/prices/book"))
        })
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let operation = recorded.span("fetch price");
    assert_eq!(operation.status, Status::Unset);
    assert_eq!(int(&operation, "retry.attempts"), Some(3));
    assert_eq!(
        text(&operation, "retry.outcome").as_deref(),
        Some("success")
    );
    let backoffs: Vec<&str> =
        operation.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(backoffs, ["503 Service Unavailable: backing off"; 2]);

    let sent = attempts(&recorded, &operation);
    let resends: Vec<Option<i64>> = sent
        .iter()
        .map(|s| int(s, "http.request.resend_count"))
        .collect();
    assert_eq!(resends, [None, Some(1), Some(2)]);
    let statuses: Vec<Option<i64>> = sent
        .iter()
        .map(|s| int(s, "http.response.status_code"))
        .collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(200)]);
}
// ANCHOR_END: twice

// ANCHOR: gave_up
#[tokio::test]
async fn a_downstream_that_always_fails_costs_the_cap_and_no_more() {
    let recorded = Recorded::start();
    let (url, payments) = start_payments().await;
    payments.set_fault(Fault::Always);
    let settings = quick();
    let retrier = retrier(&recorded, settings);
    let client = retrier.client();

    let started = Instant::now();
    let failed = retrier
        .call("fetch price", || {
            client.request(Method::GET, &format!("{url}/prices/book"))
        })
        .await;
    let took = started.elapsed();

    let Err(Failure::Status { status, attempts }) = failed else {
        panic!("expected a failure, got {failed:?}");
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // At most the first attempt and `max_retries` more; fewer if the total
    // delay ran out first.
    assert!((2..=4).contains(&attempts), "{attempts} attempts");
    assert_eq!(payments.requests(), u64::from(attempts));
    let operation = recorded.span("fetch price");
    assert!(matches!(operation.status, Status::Error { .. }));
    assert_eq!(
        text(&operation, "retry.outcome").as_deref(),
        Some("gave_up")
    );
    // The backoffs stay within the total delay; the attempts are quick.
    assert!(
        took < settings.total_delay + Duration::from_millis(300),
        "{took:?}"
    );
}
// ANCHOR_END: gave_up

#[tokio::test]
async fn a_client_error_is_answered_at_once() {
    let recorded = Recorded::start();
    let (url, payments) = start_payments().await;
    let retrier = retrier(&recorded, quick());
    let client = retrier.client();

    let response = retrier
        .call("fetch price", || {
            client.request(Method::GET, &format!("{url}/prices/piano"))
        })
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(payments.requests(), 1);
    let operation = recorded.span("fetch price");
    assert_eq!(int(&operation, "retry.attempts"), Some(1));
    assert_eq!(
        text(&operation, "retry.outcome").as_deref(),
        Some("client_error")
    );
}

// ANCHOR: idempotency
#[tokio::test]
async fn a_post_is_retried_only_with_a_key_and_then_applied_once() {
    let recorded = Recorded::start();
    let (url, payments) = start_payments().await;
    let retrier = retrier(&recorded, quick());
    let client = retrier.client();
    let charge = |key: Option<&str>| {
        let request = client
            .request(Method::POST, &format!("{url}/charges"))
            .json(&serde_json::json!({ "amount": 42 }));
        match key {
            Some(key) => request.header(IDEMPOTENCY_KEY, key),
            None => request,
        }
    };

    // Applied, then the answer lost: without a key, no second try.
    payments.set_fault(Fault::FailAfterApply(1));
    let unkeyed = retrier.call("charge payment", || charge(None)).await;
    assert!(matches!(unkeyed, Err(Failure::Status { attempts: 1, .. })));
    assert_eq!(payments.charges(), 1);

    // With a key: retried, and the retry gets the first charge back.
    payments.set_fault(Fault::FailAfterApply(1));
    let keyed = retrier
        .call("charge payment", || charge(Some("o-1")))
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::OK, "the replayed answer");
    assert_eq!(
        payments.charges(),
        2,
        "one charge per operation, none twice"
    );

    let operations = recorded.spans_named("charge payment");
    let outcomes: Vec<Option<String>> = operations
        .iter()
        .map(|s| text(s, "retry.outcome"))
        .collect();
    assert_eq!(
        outcomes,
        [Some("not_retried".into()), Some("success".into())]
    );
    let Status::Error { description } = &operations[0].status else {
        panic!("the unkeyed charge is an error");
    };
    assert!(description.ends_with("not retried: POST without an idempotency-key"));
}
// ANCHOR_END: idempotency

#[tokio::test]
async fn an_empty_budget_allows_no_retry() {
    let recorded = Recorded::start();
    let (url, payments) = start_payments().await;
    payments.set_fault(Fault::Always);
    let settings = Settings {
        budget_percent: 0.0,
        budget_min_per_sec: 0,
        ..quick()
    };
    let retrier = retrier(&recorded, settings);
    let client = retrier.client();

    let failed = retrier
        .call("fetch price", || {
            client.request(Method::GET, &format!("{url}/prices/book"))
        })
        .await;
    assert!(matches!(failed, Err(Failure::Status { attempts: 1, .. })));
    let operation = recorded.span("fetch price");
    assert_eq!(
        text(&operation, "retry.outcome").as_deref(),
        Some("budget_exhausted")
    );
}

// ANCHOR: layers
/// The pitfall: a gateway that retries in front of a service that retries.
/// Each of the gateway's 4 attempts costs the service's 4: the failing
/// downstream gets 16 requests for one click.
#[tokio::test]
async fn retries_in_two_layers_multiply() {
    let recorded = Recorded::start();
    let (payments_url, payments) = start_payments().await;
    payments.set_fault(Fault::Always);
    let settings = Settings {
        total_delay: Duration::from_secs(2),
        ..quick()
    };
    let service = Checkout {
        retrier: Arc::new(retrier(&recorded, settings)),
        payments_url,
    };
    let checkout_url = serve(checkout::app(service, &recorded.meter())).await;

    let gateway = retrier(&recorded, settings);
    let client = gateway.client();
    let failed = gateway
        .call("gateway", || {
            client.request(Method::GET, &format!("{checkout_url}/price/book"))
        })
        .await;

    assert!(matches!(failed, Err(Failure::Status { attempts: 4, .. })));
    assert_eq!(payments.requests(), 16);
}
// ANCHOR_END: layers
