//! gRPC telemetry for tonic, on both sides of the wire: a tower layer that
//! makes one span and one duration data point per call, with the names of the
//! RPC semantic conventions, and carries the trace context in the call's
//! metadata (`traceparent`).
//!
//! Written here rather than taken from a crate: the tonic instrumentation on
//! crates.io still emits the deprecated names (`rpc.system`, `rpc.service`,
//! `rpc.grpc.status_code`), which the pinned conventions replace. A gRPC
//! call is an HTTP/2 request whose status comes in the
//! headers or in the trailers after the last message, so a layer that sees the
//! request and wraps the response body sees the whole call.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{KeyValue, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, RPC_METHOD, RPC_METHOD_ORIGINAL, RPC_RESPONSE_STATUS_CODE,
    RPC_SYSTEM_NAME, SERVER_ADDRESS, SERVER_PORT,
};
use opentelemetry_semantic_conventions::metric::{
    RPC_CLIENT_CALL_DURATION, RPC_SERVER_CALL_DURATION,
};
use prost::Message as _;
use tonic::Code;
use tower::{Layer, Service};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: untraced
/// Calls that get no span and no data point: health checks (a probe every few
/// seconds per replica) and reflection (tools listing the services). Traced,
/// they would outnumber the calls anyone looks at.
pub const UNTRACED: &[&str] = &["grpc.health.v1.Health/", "grpc.reflection."];

/// Whether `method` (`package.Service/Method`) is one of the [`UNTRACED`].
pub fn untraced(method: &str) -> bool {
    UNTRACED.iter().any(|prefix| method.starts_with(prefix))
}
// ANCHOR_END: untraced

/// Which end of the call the layer sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller: CLIENT spans, `rpc.client.call.duration`.
    Client,
    /// The callee: SERVER spans, `rpc.server.call.duration`.
    Server,
}

// ANCHOR: status
/// Whether a call that ended with `code` is an error, by the gRPC semantic
/// conventions. A client counts every status but OK; a server only those that
/// say it failed: NOT_FOUND or INVALID_ARGUMENT is the server doing its job.
pub fn is_error(side: Side, code: Code) -> bool {
    match side {
        Side::Client => code != Code::Ok,
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}
// ANCHOR_END: status

// ANCHOR: transport_code
/// The code of a call that failed in the client's transport, before any
/// status arrived. tonic reports its own deadline as CANCELLED ("Timeout
/// expired"); gRPC calls a deadline that passed DEADLINE_EXCEEDED, on either
/// side, and so do the spans and the shop.
pub fn transport_code(error: &(dyn std::error::Error + 'static)) -> Code {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tonic::TimeoutExpired>() {
            return Code::DeadlineExceeded;
        }
        cause = error.source();
    }
    // Refused connections, resets, broken streams: the server cannot be
    // reached, which a retry with backoff may fix.
    Code::Unavailable
}

/// An error and its causes on one line: "transport error: Timeout expired".
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text = format!("{text}: {error}");
        cause = error.source();
    }
    text
}

/// The code of `status` as gRPC means it: [`transport_code`] for the
/// transport's own errors.
pub fn status_code(status: &tonic::Status) -> Code {
    match std::error::Error::source(status) {
        Some(source) if status.code() == Code::Cancelled => {
            match transport_code(source) {
                Code::DeadlineExceeded => Code::DeadlineExceeded,
                _ => Code::Cancelled,
            }
        }
        _ => status.code(),
    }
}
// ANCHOR_END: transport_code

/// The status code as `rpc.response.status_code` spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The methods a server serves, read from the descriptor sets of its
/// services: a call to any other path is recorded as `_OTHER`, so a scanner
/// trying random paths cannot create a span name per path.
#[derive(Clone, Debug, Default)]
pub struct Methods(Arc<BTreeSet<String>>);

impl Methods {
    /// Every method of every service in the encoded `FileDescriptorSet`s.
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut methods = BTreeSet::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(*set)?;
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name = service.name.unwrap_or_default();
                    for method in service.method {
                        let method = method.name.unwrap_or_default();
                        methods.insert(if package.is_empty() {
                            format!("{service_name}/{method}")
                        } else {
                            format!("{package}.{service_name}/{method}")
                        });
                    }
                }
            }
        }
        Ok(Self(Arc::new(methods)))
    }

    /// Whether `method` (`package.Service/Method`) is served.
    pub fn recognizes(&self, method: &str) -> bool {
        self.0.contains(method)
    }
}

// ANCHOR: layer
/// The layer: `RpcLayer::server` goes on tonic's `Server::builder()`,
/// `RpcLayer::client` around the `Channel` a generated client calls through.
#[derive(Clone)]
pub struct RpcLayer {
    side: Side,
    /// On a server, the methods it serves; a client calls through generated
    /// stubs only, whose methods all exist.
    methods: Option<Methods>,
    /// On a client, `server.address` and `server.port`.
    server: Option<(String, i64)>,
    duration: Histogram<f64>,
}

impl RpcLayer {
    /// SERVER spans, each the child of the context in the call's metadata.
    pub fn server(meter: &Meter, methods: Methods) -> Self {
        Self {
            side: Side::Server,
            methods: Some(methods),
            server: None,
            duration: duration_histogram(meter, RPC_SERVER_CALL_DURATION),
        }
    }

    /// CLIENT spans, children of the current span, whose context each call
    /// carries in its metadata; `server` is the address the channel connects to.
    pub fn client(meter: &Meter, server: &Uri) -> Self {
        let port =
            server
                .port_u16()
                .unwrap_or(if server.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
        Self {
            side: Side::Client,
            methods: None,
            server: server.host().map(|host| (host.to_owned(), i64::from(port))),
            duration: duration_histogram(meter, RPC_CLIENT_CALL_DURATION),
        }
    }
}
// ANCHOR_END: layer

fn duration_histogram(meter: &Meter, name: &'static str) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description("Duration of gRPC calls, to the end of the last message.")
        .with_boundaries(vec![
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
            7.5, 10.0,
        ])
        .build()
}

impl<S> Layer<S> for RpcLayer {
    type Service = Rpc<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Rpc {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service wrapped by [`RpcLayer`].
#[derive(Clone)]
pub struct Rpc<S> {
    inner: S,
    layer: RpcLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Rpc<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + 'static,
    ResBody: Body + Unpin,
{
    type Response = Response<RpcBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        if untraced(&method) {
            let response = self.inner.call(request);
            return Box::pin(async move {
                Ok(response.await?.map(|body| RpcBody::new(body, None)))
            });
        }
        let mut call = Call::start(&self.layer, &method, request.headers());
        if self.layer.side == Side::Client {
            // The callee's server span becomes a child of this client span.
            let context = call.span.context();
            global::get_text_map_propagator(|propagator| {
                propagator.inject_context(
                    &context,
                    &mut HeaderInjector(request.headers_mut()),
                )
            });
        }
        let span = call.span.clone();
        let response = self.inner.call(request);
        Box::pin(
            async move {
                match response.await {
                    Ok(response) => {
                        match tonic::Status::from_header_map(response.headers()) {
                            // Trailers-only: the status came with the headers (an
                            // error returned before any message).
                            Some(status) => {
                                call.finish(status.code(), status.message());
                                Ok(response.map(|body| RpcBody::new(body, None)))
                            }
                            // The status comes in the trailers: the span lasts
                            // until the body has delivered them.
                            None => {
                                Ok(response
                                    .map(|body| RpcBody::new(body, Some(call))))
                            }
                        }
                    }
                    Err(error) => {
                        call.finish(transport_code(&error), &chain(&error));
                        Err(error)
                    }
                }
            }
            .instrument(span),
        )
    }
}

// ANCHOR: call
/// One call in flight: its span, when it started, and how it ends.
struct Call {
    span: Span,
    side: Side,
    attributes: Vec<KeyValue>,
    start: Instant,
    /// The caller's deadline, from `grpc-timeout`.
    deadline: Option<Duration>,
    duration: Histogram<f64>,
    finished: bool,
}

impl Call {
    fn start(layer: &RpcLayer, method: &str, headers: &HeaderMap) -> Self {
        let recognized = layer.methods.as_ref().is_none_or(|m| m.recognizes(method));
        let (name, rpc_method) = if recognized {
            (method, method)
        } else {
            ("grpc", "_OTHER")
        };
        let kind = match layer.side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let span = tracing::info_span!(
            "gRPC call",
            otel.name = name,
            otel.kind = kind,
            otel.status_code = Empty,
            otel.status_description = Empty,
            { RPC_SYSTEM_NAME } = "grpc",
            { RPC_METHOD } = rpc_method,
            { RPC_METHOD_ORIGINAL } = Empty,
            { RPC_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
            { SERVER_ADDRESS } = Empty,
            { SERVER_PORT } = Empty,
        );
        if !recognized {
            span.record(RPC_METHOD_ORIGINAL, method);
        }
        if let Some((address, port)) = &layer.server {
            span.record(SERVER_ADDRESS, address.as_str());
            span.record(SERVER_PORT, *port);
        }
        if layer.side == Side::Server {
            let parent = global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(headers))
            });
            // Fails only when no OpenTelemetry layer is installed.
            let _ = span.set_parent(parent);
        }
        Self {
            span,
            side: layer.side,
            attributes: vec![
                KeyValue::new(RPC_SYSTEM_NAME, "grpc"),
                KeyValue::new(RPC_METHOD, rpc_method.to_owned()),
            ],
            start: Instant::now(),
            deadline: headers
                .get("grpc-timeout")
                .and_then(|value| value.to_str().ok())
                .and_then(parse_timeout),
            duration: layer.duration.clone(),
            finished: false,
        }
    }

    /// Records the status on the span and the duration data point, once.
    fn finish(&mut self, code: Code, message: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let name = code_name(code);
        self.span.record(RPC_RESPONSE_STATUS_CODE, name);
        self.attributes
            .push(KeyValue::new(RPC_RESPONSE_STATUS_CODE, name));
        if is_error(self.side, code) {
            self.span.record("otel.status_code", "ERROR");
            self.span.record("otel.status_description", message);
            self.span.record(ERROR_TYPE, name);
            self.attributes.push(KeyValue::new(ERROR_TYPE, name));
        }
        self.duration
            .record(self.start.elapsed().as_secs_f64(), &self.attributes);
    }
}

/// A call dropped with less than a tenth of its deadline left (or less
/// than this, if that is more) counts as having exceeded it; tokio's timers
/// tick every 1 ms.
const MIN_SLACK: Duration = Duration::from_millis(5);

impl Drop for Call {
    /// A call dropped before its status: on a server, tonic's own deadline
    /// (outside this layer) fired or the client went away; on a client, the
    /// caller gave up.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The caller's timer started before this layer saw the call (the
        // request was in transit), so its cancellation, or tonic's own timer,
        // arrives a little before the full deadline has passed here.
        let expired = self.side == Side::Server
            && self.deadline.is_some_and(|deadline| {
                let slack = (deadline / 10).max(MIN_SLACK);
                deadline.saturating_sub(self.start.elapsed()) <= slack
            });
        if expired {
            self.finish(Code::DeadlineExceeded, "deadline exceeded");
        } else {
            self.finish(Code::Cancelled, "call cancelled before its status");
        }
    }
}
// ANCHOR_END: call

/// `grpc-timeout` is digits and a unit: `H`ours, `M`inutes, `S`econds,
/// `m`illis, `u` micros, `n`anos (gRPC over HTTP/2).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

// ANCHOR: body
/// A response body that ends its call when the trailers arrive: a streaming
/// call's span covers every message, and the code that produces them runs
/// inside it.
pub struct RpcBody<B> {
    inner: B,
    call: Option<Call>,
}

impl<B> RpcBody<B> {
    fn new(inner: B, call: Option<Call>) -> Self {
        Self { inner, call }
    }
}

impl<B: Body + Unpin> Body for RpcBody<B>
where
    B::Error: Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let _entered = this.call.as_ref().map(|call| call.span.enter());
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        drop(_entered);
        if let Some(call) = this.call.as_mut() {
            match &frame {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(status) = frame
                        .trailers_ref()
                        .and_then(tonic::Status::from_header_map)
                    {
                        call.finish(status.code(), status.message());
                        this.call = None;
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    call.finish(Code::Unknown, &error.to_string());
                    this.call = None;
                }
                // The stream ended without a status: gRPC calls that a
                // protocol error.
                Poll::Ready(None) => {
                    call.finish(Code::Unknown, "stream ended without grpc-status");
                    this.call = None;
                }
                Poll::Pending => {}
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
// ANCHOR_END: body

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_counts_only_its_own_failures_as_errors() {
        for code in [Code::NotFound, Code::InvalidArgument, Code::Cancelled] {
            assert!(!is_error(Side::Server, code), "{code:?}");
            assert!(is_error(Side::Client, code), "{code:?}");
        }
        for code in [Code::Internal, Code::DeadlineExceeded, Code::Unavailable] {
            assert!(is_error(Side::Server, code), "{code:?}");
        }
        assert!(!is_error(Side::Client, Code::Ok));
    }

    #[test]
    fn timeouts_parse_in_every_unit_and_garbage_does_not() {
        assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("10u"), Some(Duration::from_micros(10)));
        for bad in ["", "m", "12", "12x", "-1m", "123456789m"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn health_and_reflection_are_untraced_and_the_service_is_not() {
        assert!(untraced("grpc.health.v1.Health/Check"));
        assert!(untraced(
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!untraced("inventory.v1.Inventory/GetItem"));
    }
}
