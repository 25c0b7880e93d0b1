//! The gateway under generated input (`proptest`): whatever the
//! `Authorization` header holds (any bytes a header may carry, any text after
//! `Bearer `, three base64 segments of anything, a valid token cut or with one
//! character changed) and whatever the path's id, the answer is a 401 or a
//! 400 with a JSON `error`, never a 5xx and never a panic. A valid token
//! still passes beside them.

use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use example_api_gateway::{AUDIENCE, Claims, Gateway, ISSUER, Settings, app};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use tower::ServiceExt as _;

const PUBLIC: &[u8] = include_bytes!("../keys/dev-public.pem");
const PRIVATE: &[u8] = include_bytes!("../keys/dev-private.pem");

/// A gateway in front of a real upstream, and the runtime both run on.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
}

impl Harness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let router = runtime.block_on(async {
            let upstream = Router::new().route(
                "/users/{id}",
                get(
                    |Path(id): Path<u32>| async move { format!(r#"{{"id":{id}}}"#) },
                ),
            );
            let listener =
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(axum::serve(listener, upstream).into_future());
            let gateway = Gateway::new(Settings {
                public_key_pem: PUBLIC.to_vec(),
                users_url: url.clone(),
                orders_url: url,
                // Valid tokens are rare here; none may be rate limited.
                per_second: NonZeroU32::new(1_000_000).unwrap(),
                burst: NonZeroU32::new(1_000_000).unwrap(),
            })
            .unwrap();
            let meter = opentelemetry::global::meter("hostile");
            app(gateway, &meter)
        });
        Self {
            runtime,
            router,
            token: valid_token(),
        }
    }

    /// Status, `content-type` and body of `GET path` with these headers.
    fn get(
        &self,
        path: &str,
        authorization: Option<HeaderValue>,
    ) -> (StatusCode, String, Vec<u8>) {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        if let Some(value) = authorization {
            request.headers_mut().insert("authorization", value);
        }
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, content_type, body.to_vec())
        })
    }
}

fn valid_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = Claims {
        sub: "alice".to_owned(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: now + 3600,
        plan: None,
    };
    let key = EncodingKey::from_ed_pem(PRIVATE).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap()
}

/// A refusal as clients must get it: `status`, JSON, an `error` string.
fn assert_refused(
    (status, content_type, body): (StatusCode, String, Vec<u8>),
    allowed: &[StatusCode],
) -> Result<(), TestCaseError> {
    prop_assert!(allowed.contains(&status), "status {status}");
    prop_assert_eq!(content_type, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    prop_assert!(json["error"].is_string(), "{json}");
    Ok(())
}

/// Three dot-separated base64url segments of arbitrary bytes (JSON-shaped
/// or not).
fn three_segments() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "\\{\"alg\":\"[A-Za-z0-9]{0,8}\"(,\"[a-z]{1,4}\":(1|\"x\"|null|\\[\\]))*\\}"
            .prop_map(String::into_bytes),
    ];
    (segment.clone(), segment.clone(), segment).prop_map(|(a, b, c)| {
        [a, b, c]
            .iter()
            .map(|s| URL_SAFE_NO_PAD.encode(s))
            .collect::<Vec<_>>()
            .join(".")
    })
}

thread_local! {
    static HARNESS: Harness = Harness::new();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_header_bytes_are_a_json_401(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        // What a header may carry at all: the rest never reaches a server.
        let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        HARNESS.with(|h| assert_refused(h.get("/api/users/1", Some(value)), &[StatusCode::UNAUTHORIZED]))?;
    }

    #[test]
    fn any_bearer_text_is_a_json_401(token in "[ -~]{0,400}") {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        HARNESS.with(|h| assert_refused(h.get("/api/users/1", Some(value)), &[StatusCode::UNAUTHORIZED]))?;
    }

    #[test]
    fn any_three_segments_are_a_json_401(token in three_segments()) {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        HARNESS.with(|h| assert_refused(h.get("/api/users/1", Some(value)), &[StatusCode::UNAUTHORIZED]))?;
    }

    #[test]
    fn a_valid_token_changed_or_cut_is_a_json_401(
        at in any::<prop::sample::Index>(),
        with in "[A-Za-z0-9_.-]",
        cut in any::<bool>(),
    ) {
        HARNESS.with(|h| {
            let mut token = h.token.clone();
            let at = at.index(token.len());
            if cut {
                token.truncate(at);
            } else {
                token.replace_range(at..=at, &with);
            }
            // A change that leaves the token as it was is no change.
            prop_assume!(token != h.token);
            let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
            assert_refused(h.get("/api/users/1", Some(value)), &[StatusCode::UNAUTHORIZED])
        })?;
    }

    #[test]
    fn any_id_with_a_valid_token_is_answered_or_a_json_400(id in "[^/?#]{1,40}") {
        HARNESS.with(|h| {
            let path = format!("/api/users/{}", urlencoding(&id));
            let value = HeaderValue::from_str(&format!("Bearer {}", h.token)).unwrap();
            let (status, content_type, body) = h.get(&path, Some(value));
            if status == StatusCode::OK {
                prop_assert!(id.parse::<u32>().is_ok(), "{id:?} answered 200");
                return Ok(());
            }
            assert_refused((status, content_type, body), &[StatusCode::BAD_REQUEST])
        })?;
    }
}

/// Percent-encodes every byte outside the unreserved set, so that any
/// generated id is one path segment.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_valid_token_passes() {
    HARNESS.with(|h| {
        let value = HeaderValue::from_str(&format!("Bearer {}", h.token)).unwrap();
        let (status, _, body) = h.get("/api/users/7", Some(value));
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, br#"{"id":7}"#);
    });
}
