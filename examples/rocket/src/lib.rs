//! A Rocket 0.5 service traced with OpenTelemetry. Rocket has no `tower`
//! layers; a *fairing* sees each request arrive and its response leave, and
//! that is where the server span and the duration histogram live.
//!
//! Routes: `GET /hello/<name>` answers, `GET /fail` fails with a 500, and
//! `GET /chain` calls `/hello/chain` over HTTP, so that one trace spans a
//! client/server hop.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::HeaderInjector;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    URL_FULL, URL_PATH, URL_SCHEME,
};
use opentelemetry_semantic_conventions::metric::HTTP_SERVER_REQUEST_DURATION;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};
use rocket::serde::json::{Json, Value, json};
use rocket::{Build, Data, Request, Response, Rocket, State, get, routes};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: extractor
/// Rocket's header map as an OpenTelemetry [`Extractor`]. Rocket 0.5 is
/// built on `http` 0.2, `opentelemetry-http` on `http` 1; the propagator only
/// needs "get a header by name", so a few lines bridge the two without
/// converting anything.
struct RocketHeaders<'a> {
    headers: &'a rocket::http::HeaderMap<'a>,
    /// Rocket lends header names only for as long as an iteration lasts.
    names: Vec<String>,
}

impl<'a> RocketHeaders<'a> {
    fn new(headers: &'a rocket::http::HeaderMap<'a>) -> Self {
        let names = headers
            .iter()
            .map(|h| h.name().as_str().to_owned())
            .collect();
        Self { headers, names }
    }
}

impl Extractor for RocketHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.headers.get_one(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }
}
// ANCHOR_END: extractor

// ANCHOR: fairing
/// Opens a server span when a request arrives (a child of the caller's span
/// when `traceparent` says so), names it after the matched route when the
/// response leaves, and records `http.server.request.duration`.
pub struct Telemetry {
    duration: Histogram<f64>,
}

/// What the fairing keeps in the request's local cache between its two hooks.
struct InFlight {
    span: Span,
    started: Instant,
}

impl Telemetry {
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

#[rocket::async_trait]
impl Fairing for Telemetry {
    fn info(&self) -> Info {
        Info {
            name: "OpenTelemetry",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let method = request.method().as_str();
        let span = tracing::info_span!(
            "HTTP request",
            // The route is known only once Rocket has matched one: until
            // then (and for a 404), the span is named after the method alone.
            otel.name = method,
            otel.kind = "server",
            otel.status_code = Empty,
            { HTTP_REQUEST_METHOD } = method,
            { HTTP_ROUTE } = Empty,
            { URL_PATH } = request.uri().path().as_str(),
            { URL_SCHEME } = "http",
            { HTTP_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
        );
        let parent = global::get_text_map_propagator(|propagator| {
            propagator.extract(&RocketHeaders::new(request.headers()))
        });
        let _ = span.set_parent(parent);
        request.local_cache(|| {
            Some(InFlight {
                span,
                started: Instant::now(),
            })
        });
    }

    async fn on_response<'r>(
        &self,
        request: &'r Request<'_>,
        response: &mut Response<'r>,
    ) {
        let Some(in_flight) = request.local_cache(|| None::<InFlight>) else {
            return;
        };
        let span = &in_flight.span;
        let method = request.method().as_str();
        let route = request.route().map(|route| route.uri.path());
        if let Some(route) = route {
            // The OpenTelemetry span has started already (the handler ran
            // inside it, and entering a span starts it), so it is renamed
            // through the OpenTelemetry API; recording `otel.name` now would
            // be ignored.
            span.context()
                .span()
                .update_name(format!("{method} {route}"));
            span.record(HTTP_ROUTE, route);
        }
        let status = response.status();
        // Integers as i64: tracing-opentelemetry would record a u16 as a string.
        span.record(HTTP_RESPONSE_STATUS_CODE, i64::from(status.code));
        let mut attributes = vec![
            KeyValue::new(HTTP_REQUEST_METHOD, method),
            KeyValue::new(URL_SCHEME, "http"),
            KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status.code)),
        ];
        if let Some(route) = route {
            attributes.push(KeyValue::new(HTTP_ROUTE, route.to_owned()));
        }
        if status.code >= 500 {
            span.record("otel.status_code", "ERROR");
            span.record(ERROR_TYPE, status.code.to_string());
            attributes.push(KeyValue::new(ERROR_TYPE, status.code.to_string()));
        }
        let elapsed = in_flight.started.elapsed().as_secs_f64();
        self.duration.record(elapsed, &attributes);
    }
}
// ANCHOR_END: fairing

// ANCHOR: guard
/// The request's server span, for handlers: a fairing cannot wrap the
/// handler's future, so a handler that logs or opens child spans takes this
/// guard and runs inside it.
pub struct RequestSpan(pub Span);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestSpan {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let span = request
            .local_cache(|| None::<InFlight>)
            .as_ref()
            .map_or_else(Span::none, |in_flight| in_flight.span.clone());
        Outcome::Success(RequestSpan(span))
    }
}
// ANCHOR_END: guard

/// Where `/chain` sends its call: this service's own address, known once
/// Rocket has bound its port (`main.rs` sets it at lift-off).
pub struct SelfUrl(pub OnceLock<String>);

#[get("/hello/<name>")]
async fn hello(name: &str, span: RequestSpan) -> Json<Value> {
    async {
        tracing::info!(greeting = "hello", "greeting sent");
        Json(json!({ "message": format!("hello, {name}") }))
    }
    .instrument(span.0)
    .await
}

#[get("/fail")]
async fn fail(span: RequestSpan) -> (Status, Json<Value>) {
    let _entered = span.0.enter();
    tracing::error!(reason = "inventory unavailable", "request failed");
    (
        Status::InternalServerError,
        Json(json!({ "error": "inventory unavailable" })),
    )
}

// ANCHOR: chain
/// Calls `/hello/chain` on this same service with `reqwest`, which speaks
/// `http` 1: here `opentelemetry-http`'s injector applies as it is.
#[get("/chain")]
async fn chain(
    span: RequestSpan,
    own: &State<SelfUrl>,
    client: &State<reqwest::Client>,
) -> (Status, Json<Value>) {
    let base = own.0.get().map_or("http://127.0.0.1", String::as_str);
    let url = format!("{base}/hello/chain");
    let call = tracing::info_span!(
        parent: &span.0,
        "HTTP client request",
        otel.name = "GET",
        otel.kind = "client",
        otel.status_code = Empty,
        { HTTP_REQUEST_METHOD } = "GET",
        { URL_FULL } = url.as_str(),
        { HTTP_RESPONSE_STATUS_CODE } = Empty,
    );
    let mut headers = reqwest::header::HeaderMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&call.context(), &mut HeaderInjector(&mut headers))
    });
    let sent = client.get(&url).headers(headers).send();
    let result = async {
        let result = sent.await;
        match &result {
            Ok(response) => {
                let status = i64::from(response.status().as_u16());
                Span::current().record(HTTP_RESPONSE_STATUS_CODE, status);
            }
            Err(_) => {
                Span::current().record("otel.status_code", "ERROR");
            }
        }
        result
    }
    .instrument(call)
    .await;
    match result {
        Ok(response) if response.status().is_success() => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (Status::Ok, Json(json!({ "downstream": body })))
        }
        Ok(response) => {
            let message = format!("downstream answered {}", response.status());
            (Status::BadGateway, Json(json!({ "error": message })))
        }
        Err(error) => (
            Status::BadGateway,
            Json(json!({ "error": format!("downstream unreachable: {error}") })),
        ),
    }
}
// ANCHOR_END: chain

// ANCHOR: rocket
/// The service, configured by `figment` (address, port, logging).
pub fn rocket(figment: rocket::figment::Figment, meter: &Meter) -> Rocket<Build> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    rocket::custom(figment)
        .attach(Telemetry::new(meter))
        .manage(client)
        .manage(SelfUrl(OnceLock::new()))
        .mount("/", routes![hello, fail, chain])
}
// ANCHOR_END: rocket
