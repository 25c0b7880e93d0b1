//! An axum service whose every request is a trace, a histogram data point and,
//! where it logs, a log record carrying the trace id.
//!
//! Routes: `GET /hello` answers, `GET /fail` fails with a 500, `GET /chain`
//! calls `/hello` over HTTP so that one trace spans a client/server hop.

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_PATH, URL_SCHEME,
};
use opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// What the handlers share: an HTTP client and where this service listens.
#[derive(Clone)]
pub struct AppState {
    client: reqwest::Client,
    base_url: String,
}

impl AppState {
    /// `base_url` is this service's own address, e.g. `http://127.0.0.1:3000`.
    pub fn new(base_url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            client,
            base_url: base_url.into(),
        }
    }
}

// ANCHOR: router
/// The service: three routes, a server span per request (tower-http), and the
/// `http.server.request.duration` histogram (a middleware).
pub fn app(state: AppState, meter: &Meter) -> Router {
    let metrics = HttpServerMetrics::new(meter);
    Router::new()
        .route("/hello", get(hello))
        .route("/fail", get(fail))
        .route("/chain", get(chain))
        .with_state(state)
        .layer(middleware::from_fn_with_state(metrics, record_duration))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(server_span)
                .on_response(on_response)
                // on_response already marks 5xx spans as errors.
                .on_failure(()),
        )
}
// ANCHOR_END: router

// ANCHOR: server_span
/// A server span named `METHOD /route`, child of the caller's span when the
/// request carries a W3C `traceparent` header.
fn server_span(request: &Request<Body>) -> Span {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { HTTP_ROUTE } = route,
        { URL_PATH } = request.uri().path(),
        { URL_SCHEME } = "http",
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    );
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when no OpenTelemetry layer is installed; the span then
    // stays a root.
    let _ = span.set_parent(parent);
    span
}

fn on_response(response: &Response<Body>, _latency: Duration, span: &Span) {
    let status = response.status();
    // Integers as i64: tracing-opentelemetry would record a u16 as a string.
    span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record(ERROR_TYPE, status.as_str());
    }
}
// ANCHOR_END: server_span

// ANCHOR: metrics
/// The instruments of the HTTP server semantic conventions that this
/// service records.
#[derive(Clone)]
pub struct HttpServerMetrics {
    duration: Histogram<f64>,
}

impl HttpServerMetrics {
    /// Creates the instruments; call after the global meter provider is set.
    pub fn new(meter: &Meter) -> Self {
        let duration = meter
            .f64_histogram(HTTP_SERVER_REQUEST_DURATION)
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0, 7.5, 10.0,
            ])
            .build();
        Self { duration }
    }
}

async fn record_duration(
    State(metrics): State<HttpServerMetrics>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let start = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let mut attributes = vec![
        KeyValue::new(HTTP_REQUEST_METHOD, method),
        KeyValue::new(URL_SCHEME, "http"),
        KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16())),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new(HTTP_ROUTE, route));
    }
    if status.is_server_error() {
        attributes.push(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
    }
    metrics
        .duration
        .record(start.elapsed().as_secs_f64(), &attributes);
    response
}
// ANCHOR_END: metrics

async fn hello() -> Json<Value> {
    tracing::info!(greeting = "hello", "greeting sent");
    Json(json!({ "message": "hello" }))
}

async fn fail() -> impl IntoResponse {
    tracing::error!(reason = "inventory unavailable", "request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "inventory unavailable" })),
    )
}

// ANCHOR: chain
/// Calls `/hello` on this same service: a client span whose context travels in
/// the `traceparent` header, so the callee's server span joins this trace.
async fn chain(State(state): State<AppState>) -> Response<Body> {
    let url = format!("{}/hello", state.base_url);
    let span = client_span("GET", &url);
    let mut headers = HeaderMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&span.context(), &mut HeaderInjector(&mut headers))
    });
    let call = async {
        let result = state.client.get(&url).headers(headers).send().await;
        match &result {
            Ok(response) => {
                let status = i64::from(response.status().as_u16());
                Span::current().record(HTTP_RESPONSE_STATUS_CODE, status);
            }
            Err(error) => {
                Span::current().record("otel.status_code", "ERROR");
                Span::current().record(ERROR_TYPE, error_type(error));
                tracing::warn!(error = %error, "downstream call failed");
            }
        }
        result
    };
    match call.instrument(span).await {
        Ok(response) if response.status().is_success() => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Json(json!({ "downstream": body })).into_response()
        }
        Ok(response) => {
            bad_gateway(format!("downstream answered {}", response.status()))
        }
        Err(error) => bad_gateway(format!("downstream unreachable: {error}")),
    }
}

fn client_span(method: &str, url: &str) -> Span {
    let (address, port) = reqwest::Url::parse(url)
        .map(|u| {
            (
                u.host_str().unwrap_or("").to_owned(),
                u.port_or_known_default(),
            )
        })
        .unwrap_or_default();
    tracing::info_span!(
        "HTTP client request",
        otel.name = method,
        otel.kind = "client",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = method,
        { URL_FULL } = url,
        { SERVER_ADDRESS } = address,
        { SERVER_PORT } = port.map(i64::from),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
        { ERROR_TYPE } = Empty,
    )
}
// ANCHOR_END: chain

fn error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "request"
    }
}

fn bad_gateway(message: String) -> Response<Body> {
    (StatusCode::BAD_GATEWAY, Json(json!({ "error": message }))).into_response()
}
