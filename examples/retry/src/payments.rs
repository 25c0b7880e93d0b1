//! `payments`, the flaky downstream: prices and charges, with faults to
//! order. `PUT /faults` takes `off`, `fail N` (the next N requests answer
//! 503), `fail-after-apply N` (the next N charges are applied, then answered
//! with 503, as when a response is lost on the way back) or `always`.
//! A charge with an `Idempotency-Key` is applied once per key: a repeat gets
//! the first answer again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::retry::IDEMPOTENCY_KEY;

/// What the next requests will suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Off,
    Fail(u32),
    FailAfterApply(u32),
    Always,
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let count = |n: &str| {
            n.parse::<u32>()
                .map_err(|_| format!("{n:?} is not a number of requests"))
        };
        match words.as_slice() {
            ["off"] => Ok(Fault::Off),
            ["always"] => Ok(Fault::Always),
            ["fail", n] => Ok(Fault::Fail(count(n)?)),
            ["fail-after-apply", n] => Ok(Fault::FailAfterApply(count(n)?)),
            _ => Err(format!(
                "{text:?} is not a fault: use off, always, fail N or fail-after-apply N"
            )),
        }
    }
}

/// A charge as stored and answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: u64,
    /// The idempotency key it was created under, if any.
    #[serde(skip)]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewCharge {
    amount: u64,
}

#[derive(Debug)]
struct Ledger {
    fault: Fault,
    charges: Vec<Charge>,
    by_key: BTreeMap<String, Charge>,
}

/// The service's state, shared with tests that want to look inside.
#[derive(Clone)]
pub struct Payments {
    ledger: Arc<Mutex<Ledger>>,
    requests: Arc<AtomicU64>,
}

impl Default for Payments {
    fn default() -> Self {
        Self {
            ledger: Arc::new(Mutex::new(Ledger {
                fault: Fault::Off,
                charges: Vec::new(),
                by_key: BTreeMap::new(),
            })),
            requests: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Payments {
    /// Sets what the next requests suffer.
    pub fn set_fault(&self, fault: Fault) {
        self.ledger().fault = fault;
    }

    /// Requests for prices and charges received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Charges applied so far.
    pub fn charges(&self) -> usize {
        self.ledger().charges.len()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A 503 if a `fail` fault is pending (it counts down).
    fn fail_before(&self) -> Option<Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut ledger = self.ledger();
        let fail = match ledger.fault {
            Fault::Always => true,
            Fault::Fail(n) if n > 0 => {
                ledger.fault = if n > 1 {
                    Fault::Fail(n - 1)
                } else {
                    Fault::Off
                };
                true
            }
            _ => false,
        };
        fail.then(unavailable)
    }

    /// A 503 after the work, if a `fail-after-apply` fault is pending.
    fn fail_after(&self) -> Option<Response> {
        let mut ledger = self.ledger();
        match ledger.fault {
            Fault::FailAfterApply(n) if n > 0 => {
                ledger.fault = if n > 1 {
                    Fault::FailAfterApply(n - 1)
                } else {
                    Fault::Off
                };
                Some(unavailable())
            }
            _ => None,
        }
    }
}

fn unavailable() -> Response {
    tracing::warn!("failing on purpose");
    let body = Json(json!({ "error": "payments unavailable" }));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

/// The routes, over `payments`.
pub fn routes(payments: Payments) -> Router {
    Router::new()
        .route("/prices/{sku}", get(price))
        .route("/charges", post(charge).get(charges))
        .route("/faults", put(set_fault))
        .with_state(payments)
}

async fn price(
    State(payments): State<Payments>,
    Path(sku): Path<String>,
) -> Response {
    if let Some(failed) = payments.fail_before() {
        return failed;
    }
    match sku.as_str() {
        "book" => Json(json!({ "sku": sku, "price": 42 })).into_response(),
        "pen" => Json(json!({ "sku": sku, "price": 3 })).into_response(),
        _ => {
            let body = Json(json!({ "error": format!("no price for {sku}") }));
            (StatusCode::NOT_FOUND, body).into_response()
        }
    }
}

// ANCHOR: charge
async fn charge(
    State(payments): State<Payments>,
    headers: HeaderMap,
    Json(new): Json<NewCharge>,
) -> Response {
    if let Some(failed) = payments.fail_before() {
        return failed;
    }
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let charge = {
        let mut ledger = payments.ledger();
        if let Some(done) = key.as_ref().and_then(|k| ledger.by_key.get(k)) {
            // Seen this key: the same answer, nothing charged again.
            tracing::info!("charge replayed for its idempotency key");
            return (StatusCode::OK, Json(done.clone())).into_response();
        }
        let charge = Charge {
            id: format!("ch-{}", ledger.charges.len() + 1),
            amount: new.amount,
            key: key.clone(),
        };
        ledger.charges.push(charge.clone());
        if let Some(key) = key {
            ledger.by_key.insert(key, charge.clone());
        }
        charge
    };
    tracing::info!("charge {} applied", charge.id);
    if let Some(failed) = payments.fail_after() {
        return failed;
    }
    (StatusCode::CREATED, Json(charge)).into_response()
}
// ANCHOR_END: charge

async fn charges(State(payments): State<Payments>) -> Response {
    let ledger = payments.ledger();
    // Charges applied under each key: more than 1 would be a double charge.
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for key in ledger.charges.iter().filter_map(|c| c.key.as_deref()) {
        *by_key.entry(key).or_default() += 1;
    }
    Json(json!({ "count": ledger.charges.len(), "by_key": by_key })).into_response()
}

async fn set_fault(State(payments): State<Payments>, body: String) -> Response {
    match body.parse::<Fault>() {
        Ok(fault) => {
            payments.set_fault(fault);
            tracing::info!("fault set: {}", body.trim());
            StatusCode::NO_CONTENT.into_response()
        }
        Err(message) => (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn faults_parse_and_anything_else_is_refused_with_the_choices() {
        assert_eq!("fail 2".parse(), Ok(Fault::Fail(2)));
        assert_eq!(" always ".parse(), Ok(Fault::Always));
        assert_eq!("fail-after-apply 1".parse(), Ok(Fault::FailAfterApply(1)));
        for bad in ["", "fail", "fail two", "sometimes"] {
            let error = bad.parse::<Fault>().unwrap_err();
            assert!(error.contains("is not"), "{bad:?}: {error}");
        }
    }
}
