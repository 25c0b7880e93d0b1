//! An API gateway: one public entry point in front of two upstream services.
//! Every request is authenticated (a JWT signed with EdDSA), rate limited per
//! client, and forwarded with its trace context, through a circuit breaker per
//! upstream. Each decision is a span: a rejected request shows which step
//! rejected it and why.
//!
//! Routes: `GET /api/users/{id}` goes to `users`, `GET /api/orders/{id}` to
//! `orders` (which calls `users` in turn).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use failsafe::futures::CircuitBreaker as _;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use opentelemetry::metrics::Meter;
use opentelemetry_semantic_conventions::attribute::ENDUSER_ID;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::field::Empty;

use crate::http::TracedClient;

pub mod http;

/// The issuer and audience every token must name.
pub const ISSUER: &str = "book-auth";
pub const AUDIENCE: &str = "book-api";

/// Why a step refused a request: the value of `gateway.rejection`.
pub const REJECTION: &str = "gateway.rejection";

/// The claims the gateway reads from a token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
}

/// How the gateway is set up; `main.rs` reads it from the environment.
pub struct Settings {
    /// The EdDSA public key that verifies tokens, PEM.
    pub public_key_pem: Vec<u8>,
    pub users_url: String,
    pub orders_url: String,
    /// Sustained requests per second, per client.
    pub per_second: NonZeroU32,
    /// Requests a client may send at once before the rate applies.
    pub burst: NonZeroU32,
}

/// The gateway's shared state.
#[derive(Clone)]
pub struct Gateway {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    client: TracedClient,
    users: Upstream,
    orders: Upstream,
}

impl Gateway {
    pub fn new(settings: Settings) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = DecodingKey::from_ed_pem(&settings.public_key_pem)?;
        // ANCHOR: validation
        // Only EdDSA: a token that names another algorithm (HS256 signed
        // with our public key as the secret, or `none`) is refused before
        // any signature is checked.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = 5;
        // ANCHOR_END: validation
        let quota =
            Quota::per_second(settings.per_second).allow_burst(settings.burst);
        Ok(Self {
            key: Arc::new(key),
            validation: Arc::new(validation),
            limiter: Arc::new(RateLimiter::keyed(quota)),
            client: TracedClient::new(Duration::from_secs(2)),
            users: Upstream::new("users", settings.users_url),
            orders: Upstream::new("orders", settings.orders_url),
        })
    }

    /// Forgets clients that have not been seen for a while; the limiter keeps
    /// a cell per client otherwise. `main.rs` calls it once a minute.
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
    }
}

// ANCHOR: router
/// The gateway: authentication, then rate limiting, then the route, each
/// request a server span (`http::instrument`).
pub fn app(gateway: Gateway, meter: &Meter) -> Router {
    let routes = Router::new()
        .route("/api/users/{id}", get(users))
        .route("/api/orders/{id}", get(orders))
        // Layers run outside in: the last added runs first.
        .layer(middleware::from_fn_with_state(gateway.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            authenticate,
        ))
        .with_state(gateway);
    http::instrument(routes, meter)
}
// ANCHOR_END: router

/// The authenticated client, for the steps after authentication.
#[derive(Clone, Debug)]
struct Subject(String);

// ANCHOR: authenticate
async fn authenticate(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let span = tracing::info_span!(
        "authenticate",
        otel.status_code = Empty,
        otel.status_description = Empty,
        { ENDUSER_ID } = Empty,
        { REJECTION } = Empty,
    );
    let verdict = span.in_scope(|| {
        let token = bearer_token(&request)?;
        jsonwebtoken::decode::<Claims>(token, &gateway.key, &gateway.validation)
            .map(|data| data.claims.sub)
            .map_err(|error| refusal(&error))
    });
    match verdict {
        Ok(subject) => {
            span.record(ENDUSER_ID, subject.as_str());
            request.extensions_mut().insert(Subject(subject));
            drop(span);
            next.run(request).await
        }
        Err((rejection, message)) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", message);
            span.record(REJECTION, rejection);
            let mut response = json_error(StatusCode::UNAUTHORIZED, message);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            response
        }
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(request: &Request) -> Result<&str, (&'static str, &'static str)> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(("missing", "missing bearer token"))?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or((
            "malformed",
            "the Authorization header is not `Bearer <token>`",
        ))
}

/// A short, stable reason for the span and a message for the client. The
/// client learns what to fix, not which check a forger got past.
fn refusal(error: &jsonwebtoken::errors::Error) -> (&'static str, &'static str) {
    match error.kind() {
        ErrorKind::ExpiredSignature => ("expired", "token expired"),
        ErrorKind::InvalidSignature => {
            ("bad_signature", "token signature is not valid")
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            ("algorithm", "token algorithm is not accepted")
        }
        ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
            ("wrong_party", "token was not issued for this API")
        }
        ErrorKind::MissingRequiredClaim(_) => {
            ("claims", "token lacks a required claim")
        }
        // A header that names `alg: none` fails here too: jsonwebtoken has
        // no such algorithm, so the header does not even parse.
        _ => ("malformed", "token is malformed"),
    }
}
// ANCHOR_END: authenticate

// ANCHOR: rate_limit
async fn rate_limit(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let Some(Subject(subject)) = request.extensions().get::<Subject>().cloned()
    else {
        // Unreachable behind `authenticate`; refuse rather than let it through.
        return json_error(StatusCode::UNAUTHORIZED, "missing bearer token");
    };
    let span = tracing::info_span!(
        "rate_limit",
        otel.status_code = Empty,
        otel.status_description = Empty,
        { REJECTION } = Empty,
    );
    let decision = span.in_scope(|| gateway.limiter.check_key(&subject));
    match decision {
        Ok(()) => {
            drop(span);
            next.run(request).await
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", "rate limit exceeded");
            span.record(REJECTION, "rate_limited");
            let mut response =
                json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            // Whole seconds, rounded up: `Retry-After: 0` would invite a retry
            // that is refused again.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        }
    }
}
// ANCHOR_END: rate_limit

// ANCHOR: upstream
/// One upstream service behind its own circuit breaker.
#[derive(Clone)]
struct Upstream {
    name: &'static str,
    base_url: String,
    breaker: failsafe::StateMachine<
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
        BreakerLog,
    >,
}

impl Upstream {
    fn new(name: &'static str, base_url: String) -> Self {
        let policy = failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(Duration::from_secs(10)),
        );
        let breaker = failsafe::Config::new()
            .failure_policy(policy)
            .instrument(BreakerLog(name))
            .build();
        Self {
            name,
            base_url,
            breaker,
        }
    }
}

/// State changes of an upstream's breaker, as log records in the request's
/// span (the circuit-breaker chapter instruments a breaker in full).
#[derive(Clone, Copy, Debug)]
struct BreakerLog(&'static str);

impl failsafe::Instrument for BreakerLog {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        tracing::warn!(upstream = self.0, "upstream circuit opened");
    }
    fn on_half_open(&self) {}
    fn on_closed(&self) {}
}

/// Forwards `GET path` to `upstream` and relays its answer. The traced client
/// injects `traceparent`, so the upstream's spans join the gateway's trace.
async fn forward(
    client: &TracedClient,
    upstream: &Upstream,
    path: &str,
) -> Response<Body> {
    let url = format!("{}{path}", upstream.base_url);
    let call = async {
        let response = client
            .send(client.request(reqwest::Method::GET, &url))
            .await?;
        // A 5xx counts against the breaker; a 404 is an answer.
        match response.error_for_status_ref() {
            Err(error) if response.status().is_server_error() => Err(error),
            _ => Ok(response),
        }
    };
    match upstream.breaker.call(call).await {
        Ok(response) => relay(response).await,
        Err(failsafe::Error::Rejected) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{} is unavailable", upstream.name),
        ),
        Err(failsafe::Error::Inner(error)) => {
            tracing::warn!(
                upstream = upstream.name,
                error = %error,
                "upstream failed"
            );
            json_error(
                StatusCode::BAD_GATEWAY,
                &format!("{} did not answer", upstream.name),
            )
        }
    }
}
// ANCHOR_END: upstream

/// The upstream's status, content type and body, as the gateway's answer.
async fn relay(response: reqwest::Response) -> Response<Body> {
    let status = StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    match response.bytes().await {
        Ok(body) => {
            let mut relayed = Response::new(Body::from(body));
            *relayed.status_mut() = status;
            if let Some(content_type) = content_type {
                relayed
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            relayed
        }
        Err(_) => {
            json_error(StatusCode::BAD_GATEWAY, "upstream answer was cut short")
        }
    }
}

async fn users(
    State(gateway): State<Gateway>,
    Path(id): Path<u32>,
) -> Response<Body> {
    forward(&gateway.client, &gateway.users, &format!("/users/{id}")).await
}

async fn orders(
    State(gateway): State<Gateway>,
    Path(id): Path<u32>,
) -> Response<Body> {
    forward(&gateway.client, &gateway.orders, &format!("/orders/{id}")).await
}

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    (status, Json(json!({ "error": message }))).into_response()
}
