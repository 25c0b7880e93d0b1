//! The gateway in process, in front of a real upstream (an HTTP server on
//! port 0): every kind of bad token is a 401 with a JSON reason, a burst
//! trips the per-client limiter, and each refusal is recorded on the span of
//! the step that refused.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use example_api_gateway::{AUDIENCE, Claims, Gateway, ISSUER, Settings, app};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const PUBLIC: &[u8] = include_bytes!("../keys/dev-public.pem");
const PRIVATE: &[u8] = include_bytes!("../keys/dev-private.pem");
const OTHER_PRIVATE: &[u8] = include_bytes!("keys/other-private.pem");

fn claims(sub: &str, valid_for: i64) -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Claims {
        sub: sub.to_owned(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: now.checked_add_signed(valid_for).unwrap(),
    }
}

fn signed(claims: &Claims, private_pem: &[u8]) -> String {
    let key = EncodingKey::from_ed_pem(private_pem).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key).unwrap()
}

/// A token that names `alg: none` and carries no signature.
fn unsigned(claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// HS256 with the *public* key as the shared secret: the classic algorithm
/// confusion attack on verifiers that trust the token's `alg`.
fn confused(claims: &Claims) -> String {
    let key = EncodingKey::from_secret(PUBLIC);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

async fn upstream() -> String {
    let router = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!(r#"{{"id":{id}}}"#) }),
        )
        .route(
            "/orders/{id}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router).into_future());
    url
}

struct Harness {
    router: Router,
    spans: InMemorySpanExporter,
    tracer: SdkTracerProvider,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Harness {
    async fn new(per_second: u32, burst: u32) -> Self {
        let url = upstream().await;
        let gateway = Gateway::new(Settings {
            public_key_pem: PUBLIC.to_vec(),
            users_url: url.clone(),
            orders_url: url,
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
        .unwrap();
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
        let meter = SdkMeterProvider::default().meter("test");
        Self {
            router: app(gateway, &meter),
            spans,
            tracer,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    /// `GET /api/users/1` with this `Authorization` header: status, the
    /// `WWW-Authenticate` or `Retry-After` header, and the body.
    async fn get(
        &self,
        authorization: Option<&str>,
    ) -> (StatusCode, String, String) {
        self.get_path("/api/users/1", authorization).await
    }

    async fn get_path(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut request = Request::get(path);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let header = ["www-authenticate", "retry-after"]
            .iter()
            .find_map(|name| response.headers().get(*name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, header, String::from_utf8_lossy(&body).into_owned())
    }

    fn spans_named(&self, name: &str) -> Vec<SpanData> {
        self.tracer.force_flush().unwrap();
        let spans = self.spans.get_finished_spans().unwrap();
        spans.into_iter().filter(|s| s.name == name).collect()
    }
}

fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_a_reason_and_an_error_span() {
    let alice = claims("alice", 3600);
    let wrong_issuer = Claims {
        iss: "someone-else".into(),
        ..claims("alice", 3600)
    };
    let cases: Vec<(&str, Option<String>, &str, &str)> = vec![
        ("no header", None, "missing", "missing bearer token"),
        (
            "not Bearer",
            Some("Basic YWxpY2U6c2VjcmV0".into()),
            "malformed",
            "the Authorization header is not `Bearer <token>`",
        ),
        (
            "not a JWT",
            Some("Bearer not-a-token".into()),
            "malformed",
            "token is malformed",
        ),
        (
            "alg: none",
            Some(format!("Bearer {}", unsigned(&alice))),
            "malformed",
            "token is malformed",
        ),
        (
            "HS256 with the public key",
            Some(format!("Bearer {}", confused(&alice))),
            "algorithm",
            "token algorithm is not accepted",
        ),
        (
            "another key",
            Some(format!("Bearer {}", signed(&alice, OTHER_PRIVATE))),
            "bad_signature",
            "token signature is not valid",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(&claims("alice", -3600), PRIVATE)
            )),
            "expired",
            "token expired",
        ),
        (
            "wrong issuer",
            Some(format!("Bearer {}", signed(&wrong_issuer, PRIVATE))),
            "wrong_party",
            "token was not issued for this API",
        ),
    ];
    let harness = Harness::new(100, 100).await;
    for (case, authorization, _, message) in &cases {
        let (status, www_authenticate, body) =
            harness.get(authorization.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        assert_eq!(
            www_authenticate, r#"Bearer error="invalid_token""#,
            "{case}"
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], *message, "{case}");
    }
    let spans = harness.spans_named("authenticate");
    assert_eq!(spans.len(), cases.len());
    for (span, (case, _, rejection, message)) in spans.iter().zip(&cases) {
        assert_eq!(attribute(span, "gateway.rejection"), *rejection, "{case}");
        assert_eq!(span.status, Status::error(*message), "{case}");
    }
    assert!(
        harness.spans_named("rate_limit").is_empty(),
        "refused before the limiter"
    );

    let valid = format!("Bearer {}", signed(&alice, PRIVATE));
    let (status, _, body) = harness.get(Some(&valid)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"id":1}"#);
    let authenticated = harness.spans_named("authenticate").pop().unwrap();
    assert_eq!(attribute(&authenticated, "enduser.id"), "alice");
    assert_eq!(authenticated.status, Status::Unset);
}

#[tokio::test]
async fn a_burst_trips_the_limiter_for_that_client_only() {
    let harness = Harness::new(1, 3).await;
    let carol = format!("Bearer {}", signed(&claims("carol", 3600), PRIVATE));
    let dave = format!("Bearer {}", signed(&claims("dave", 3600), PRIVATE));

    for _ in 0..3 {
        assert_eq!(harness.get(Some(&carol)).await.0, StatusCode::OK);
    }
    let (status, retry_after, body) = harness.get(Some(&carol)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after, "1", "a whole number of seconds, at least 1");
    assert!(body.contains("rate limit exceeded"), "{body}");
    // Another client has its own allowance.
    assert_eq!(harness.get(Some(&dave)).await.0, StatusCode::OK);

    let limited: Vec<_> = harness
        .spans_named("rate_limit")
        .into_iter()
        .filter(|s| matches!(s.status, Status::Error { .. }))
        .collect();
    assert_eq!(limited.len(), 1);
    assert_eq!(attribute(&limited[0], "gateway.rejection"), "rate_limited");

    // After the refill interval, carol may call again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(harness.get(Some(&carol)).await.0, StatusCode::OK);
}

#[test]
fn a_missing_or_bad_key_is_a_clear_error_not_a_panic() {
    let binary = env!("CARGO_BIN_EXE_example-api-gateway");
    let output = std::process::Command::new(binary)
        .env_remove("JWT_PUBLIC_KEY_FILE")
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_PUBLIC_KEY_FILE is not set"),
        "{stderr}"
    );

    // A private key where the public one belongs.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/other-private.pem");
    let output = std::process::Command::new(binary)
        .env("JWT_PUBLIC_KEY_FILE", path)
        .env("OTEL_SDK_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not an EdDSA key"), "{stderr}");
}

#[tokio::test]
async fn each_upstream_has_its_own_breaker() {
    let harness = Harness::new(100, 100).await;
    let alice = format!("Bearer {}", signed(&claims("alice", 3600), PRIVATE));
    // orders answers 500: five failures open its circuit...
    for _ in 0..5 {
        let (status, _, body) =
            harness.get_path("/api/orders/7", Some(&alice)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(body.contains("orders did not answer"), "{body}");
    }
    let (status, _, body) = harness.get_path("/api/orders/7", Some(&alice)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("orders is unavailable"), "{body}");
    // ...and users, behind its own breaker, still answers.
    assert_eq!(harness.get(Some(&alice)).await.0, StatusCode::OK);
    // The rejected call never left the gateway: no client span for it.
    let clients = harness.spans_named("GET");
    assert_eq!(clients.len(), 6, "5 failed calls to orders and 1 to users");
}
