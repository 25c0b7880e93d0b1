//! The embedded OTLP collector: gRPC (tonic) and HTTP (axum, protobuf and JSON,
//! gzip accepted) receivers for traces, metrics and logs, writing into a [`Store`];
//! on the HTTP port too, Zipkin's v2 JSON (`zipkin`), as OTLP spans.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tower_http::cors::CorsLayer;
use tower_http::timeout::TimeoutLayer;

use crate::otlp::received::{
    LogRecord, MetricRecord, RequestRecord, Security, SpanRecord, Store,
};

/// The largest export accepted, compressed or not: the OTLP exporters' own limit.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Something that arrived, for a live view such as `cargo xtask collector`.
#[derive(Debug)]
pub enum Arrival {
    Spans(Vec<SpanRecord>),
    Metrics(Vec<MetricRecord>),
    Logs(Vec<LogRecord>),
}

/// A running collector. Dropping it stops both servers.
pub struct Collector {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub store: Store,
    /// What the receivers share, for the TLS ones [`tls`] starts beside.
    receiver: Receiver,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Collector {
    /// Starts both receivers on 127.0.0.1 (port 0 picks a free port).
    pub async fn start(grpc_port: u16, http_port: u16) -> Result<Self> {
        Self::start_with(grpc_port, http_port, None).await
    }

    /// As [`Collector::start`], also sending every arrival to `live`.
    pub async fn start_with(
        grpc_port: u16,
        http_port: u16,
        live: Option<mpsc::UnboundedSender<Arrival>>,
    ) -> Result<Self> {
        let receiver = Receiver {
            store: Store::default(),
            live,
            security: Security::Plaintext,
        };
        let grpc = TcpListener::bind(("127.0.0.1", grpc_port))
            .await
            .with_context(|| {
                format!("cannot listen for OTLP/gRPC on 127.0.0.1:{grpc_port}")
            })?;
        let http = TcpListener::bind(("127.0.0.1", http_port))
            .await
            .with_context(|| {
                format!("cannot listen for OTLP/HTTP on 127.0.0.1:{http_port}")
            })?;
        let grpc_addr = grpc.local_addr()?;
        let http_addr = http.local_addr()?;

        let grpc_task = tokio::spawn(serve_grpc(grpc, receiver.clone()));
        let http_app = http_router(receiver.clone());
        let http_task = tokio::spawn(serve::serve(http, http_app, None));
        Ok(Self {
            grpc_addr,
            http_addr,
            store: receiver.store.clone(),
            receiver,
            tasks: vec![grpc_task, http_task],
        })
    }

    /// `http://127.0.0.1:PORT` of the gRPC receiver.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP receiver (exporters append `/v1/<signal>`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }
}

#[derive(Clone)]
struct Receiver {
    store: Store,
    live: Option<mpsc::UnboundedSender<Arrival>>,
    /// How the listeners this receiver serves are secured.
    security: Security,
}

impl Receiver {
    /// The same store and live view, behind listeners secured as `security`.
    fn secured(&self, security: Security) -> Self {
        Receiver {
            security,
            ..self.clone()
        }
    }

    fn traces(
        &self,
        mut request: RequestRecord,
        export: &ExportTraceServiceRequest,
    ) {
        request.security = self.security;
        let spans = self.store.add_traces(request, export);
        self.tell(Arrival::Spans(spans));
    }

    fn metrics(
        &self,
        mut request: RequestRecord,
        export: &ExportMetricsServiceRequest,
    ) {
        request.security = self.security;
        let metrics = self.store.add_metrics(request, export);
        self.tell(Arrival::Metrics(metrics));
    }

    fn logs(&self, mut request: RequestRecord, export: &ExportLogsServiceRequest) {
        request.security = self.security;
        let logs = self.store.add_logs(request, export);
        self.tell(Arrival::Logs(logs));
    }

    fn tell(&self, arrival: Arrival) {
        if let Some(live) = &self.live {
            // The live view may have gone; the store still holds everything.
            let _ = live.send(arrival);
        }
    }
}

// ---------------------------------------------------------------- validation

/// Checks what protobuf and JSON decoding cannot: ids of the lengths OTLP requires.
trait Validate {
    fn validate(&self) -> Result<(), String>;
}

fn check_id(
    what: &str,
    name: &str,
    id: &[u8],
    len: usize,
    optional: bool,
) -> Result<(), String> {
    if (optional && id.is_empty()) || id.len() == len {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} has a {} of {} bytes; OTLP requires {len}",
            if len == 16 { "trace id" } else { "span id" },
            id.len()
        ))
    }
}

impl Validate for ExportTraceServiceRequest {
    fn validate(&self) -> Result<(), String> {
        let spans = self
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans);
        for span in spans {
            check_id("span", &span.name, &span.trace_id, 16, false)?;
            check_id("span", &span.name, &span.span_id, 8, false)?;
            check_id("span", &span.name, &span.parent_span_id, 8, true)?;
        }
        Ok(())
    }
}

impl Validate for ExportMetricsServiceRequest {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Validate for ExportLogsServiceRequest {
    fn validate(&self) -> Result<(), String> {
        let logs = self
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records);
        for log in logs {
            check_id("log record", &log.severity_text, &log.trace_id, 16, true)?;
            check_id("log record", &log.severity_text, &log.span_id, 8, true)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- gRPC

async fn serve_grpc(listener: TcpListener, receiver: Receiver) {
    serve_grpc_with(listener, receiver, tonic::transport::Server::builder()).await;
}

/// The gRPC receiver, on a server that may have a TLS config.
async fn serve_grpc_with(
    listener: TcpListener,
    receiver: Receiver,
    server: tonic::transport::Server,
) {
    let incoming = tokio_stream_listener(listener);
    let result = server
        .layer(tower::util::MapResponseLayer::new(
            grpc_status_for_bad_input,
        ))
        .add_service(
            TraceServiceServer::new(receiver.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .add_service(
            MetricsServiceServer::new(receiver.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .add_service(
            LogsServiceServer::new(receiver)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_BODY),
        )
        .serve_with_incoming(incoming)
        .await;
    if let Err(e) = result {
        eprintln!("collector: OTLP/gRPC server stopped: {e}");
    }
}

fn tokio_stream_listener(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}

/// tonic answers a body it cannot decode with `Internal`; OTLP clients must not
/// retry such a request, and `InvalidArgument` is the status that says so.
fn grpc_status_for_bad_input<B>(
    mut response: http::Response<B>,
) -> http::Response<B> {
    let headers = response.headers_mut();
    let internal = headers.get("grpc-status").is_some_and(|s| s == "13");
    let decode = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| m.to_ascii_lowercase().contains("decod"));
    if internal && decode {
        headers.insert("grpc-status", HeaderValue::from_static("3"));
    }
    response
}

fn grpc_request_record<T>(
    signal: &'static str,
    request: &tonic::Request<T>,
) -> RequestRecord {
    let headers = request.metadata().clone().into_headers();
    RequestRecord {
        signal,
        transport: "grpc",
        compression: header_str(&headers, "grpc-encoding"),
        headers: text_headers(&headers),
        security: Default::default(),
    }
}

/// The headers whose values are text, by lowercase name.
fn text_headers(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

fn invalid<T>(message: String) -> Result<T, tonic::Status> {
    Err(tonic::Status::invalid_argument(message))
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let record = grpc_request_record("traces", &request);
        let export = request.into_inner();
        if let Err(message) = export.validate() {
            return invalid(message);
        }
        self.traces(record, &export);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let record = grpc_request_record("metrics", &request);
        let export = request.into_inner();
        if let Err(message) = export.validate() {
            return invalid(message);
        }
        self.metrics(record, &export);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let record = grpc_request_record("logs", &request);
        let export = request.into_inner();
        if let Err(message) = export.validate() {
            return invalid(message);
        }
        self.logs(record, &export);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

// ---------------------------------------------------------------- HTTP

fn http_router(receiver: Receiver) -> Router {
    Router::new()
        .route("/v1/traces", post(http_traces))
        .route("/v1/metrics", post(http_metrics))
        .route("/v1/logs", post(http_logs))
        .route("/api/v2/spans", post(zipkin_spans))
        .with_state(receiver)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // A body that arrives too slowly: 408, and the connection is free.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            serve::REQUEST_TIMEOUT,
        ))
        // Browsers (wasm front-ends) export straight to the collector.
        .layer(CorsLayer::very_permissive().max_age(Duration::from_secs(600)))
}

/// The two OTLP/HTTP encodings.
#[derive(Clone, Copy)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// An OTLP/HTTP failure: a status and a message, sent as a `google.rpc.Status`
/// in the request's encoding, as the specification asks.
struct HttpError {
    status: StatusCode,
    message: String,
    encoding: Encoding,
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        // gRPC code 3 (InvalidArgument) for a bad request, 13 (Internal) otherwise.
        let code = if self.status.is_client_error() { 3 } else { 13 };
        let status = RpcStatus {
            code,
            message: self.message,
        };
        let body = match self.encoding {
            Encoding::Protobuf => prost::Message::encode_to_vec(&status),
            Encoding::Json => serde_json::to_vec(&status).unwrap_or_default(),
        };
        (
            self.status,
            [(header::CONTENT_TYPE, self.encoding.content_type())],
            body,
        )
            .into_response()
    }
}

fn bad_request(encoding: Encoding, message: String) -> HttpError {
    HttpError {
        status: StatusCode::BAD_REQUEST,
        message,
        encoding,
    }
}

/// Decodes an OTLP/HTTP body: content type, then content encoding, then message.
fn decode_http<T>(
    signal: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(RequestRecord, T), HttpError>
where
    T: prost::Message + Default + DeserializeOwned + Validate,
{
    let content_type = header_str(headers, "content-type").unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = match media_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            return Err(HttpError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: format!(
                    "content-type {content_type:?} is not an OTLP encoding; \
                     send application/x-protobuf or application/json"
                ),
                encoding: Encoding::Json,
            });
        }
    };
    let compression =
        header_str(headers, "content-encoding").filter(|c| c != "identity");
    let decompressed;
    let bytes = match compression.as_deref() {
        None => body,
        Some("gzip") => {
            decompressed = gunzip(body).map_err(|e| match e {
                Inflated::TooLarge => HttpError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!(
                        "the body is more than {MAX_BODY} bytes once inflated"
                    ),
                    encoding,
                },
                Inflated::Corrupt(e) => {
                    bad_request(encoding, format!("gzip body is corrupt: {e}"))
                }
            })?;
            &decompressed[..]
        }
        Some(other) => {
            return Err(HttpError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: format!(
                    "content-encoding {other:?} is not supported; send gzip or none"
                ),
                encoding,
            });
        }
    };
    let message: T = match encoding {
        Encoding::Protobuf => T::decode(bytes).map_err(|e| {
            bad_request(
                encoding,
                format!("body is not a valid OTLP {signal} protobuf message: {e}"),
            )
        })?,
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| {
            bad_request(
                encoding,
                format!("body is not a valid OTLP/JSON {signal} message: {e}"),
            )
        })?,
    };
    message.validate().map_err(|m| bad_request(encoding, m))?;
    let transport = match encoding {
        Encoding::Protobuf => "http/protobuf",
        Encoding::Json => "http/json",
    };
    let record = RequestRecord {
        signal,
        transport,
        compression,
        headers: text_headers(headers),
        security: Default::default(),
    };
    Ok((record, message))
}

/// Why a gzip body was not inflated.
enum Inflated {
    /// More than [`MAX_BODY`] bytes once inflated (a gzip bomb, say): no
    /// more than that is ever held.
    TooLarge,
    Corrupt(std::io::Error),
}

impl std::fmt::Display for Inflated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inflated::TooLarge => {
                write!(f, "more than {MAX_BODY} bytes once inflated")
            }
            Inflated::Corrupt(e) => e.fmt(f),
        }
    }
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, Inflated> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Inflated::Corrupt)?;
    if out.len() > MAX_BODY {
        return Err(Inflated::TooLarge);
    }
    Ok(out)
}

/// A success response: the empty export response in the request's encoding.
fn accepted<T: prost::Message + Serialize + Default>(
    headers: &HeaderMap,
) -> Response {
    let json =
        header_str(headers, "content-type").is_some_and(|c| c.contains("json"));
    let (content_type, body) = if json {
        (
            "application/json",
            serde_json::to_vec(&T::default()).unwrap_or_default(),
        )
    } else {
        ("application/x-protobuf", T::default().encode_to_vec())
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn http_traces(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(&headers, rejection),
    };
    match decode_http::<ExportTraceServiceRequest>("traces", &headers, &body) {
        Ok((record, export)) => {
            receiver.traces(record, &export);
            accepted::<ExportTraceServiceResponse>(&headers)
        }
        Err(e) => e.into_response(),
    }
}

/// Zipkin v2 JSON spans: a 202 as Zipkin answers, or a 400 that says why.
async fn zipkin_spans(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let compression =
        header_str(&headers, "content-encoding").filter(|c| c != "identity");
    let inflated = match compression.as_deref() {
        None => Ok(body.to_vec()),
        Some("gzip") => {
            gunzip(&body).map_err(|e| format!("the gzip body is broken: {e}"))
        }
        Some(other) => Err(format!(
            "content-encoding {other:?} is not supported; send gzip or none"
        )),
    };
    match inflated.and_then(|body| zipkin::decode(&body)) {
        Ok(export) => {
            let record = RequestRecord {
                signal: "traces",
                transport: "zipkin/json",
                compression,
                headers: text_headers(&headers),
                security: Default::default(),
            };
            receiver.traces(record, &export);
            StatusCode::ACCEPTED.into_response()
        }
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

async fn http_metrics(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(&headers, rejection),
    };
    match decode_http::<ExportMetricsServiceRequest>("metrics", &headers, &body) {
        Ok((record, export)) => {
            receiver.metrics(record, &export);
            accepted::<ExportMetricsServiceResponse>(&headers)
        }
        Err(e) => e.into_response(),
    }
}

async fn http_logs(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(&headers, rejection),
    };
    match decode_http::<ExportLogsServiceRequest>("logs", &headers, &body) {
        Ok((record, export)) => {
            receiver.logs(record, &export);
            accepted::<ExportLogsServiceResponse>(&headers)
        }
        Err(e) => e.into_response(),
    }
}

/// A body that could not be read: too large (413, the OTLP exporters do
/// not retry it), or cut off or too slow (the rejection's own status), as a
/// `google.rpc.Status` in the request's encoding.
fn body_refused(headers: &HeaderMap, rejection: BytesRejection) -> Response {
    let json =
        header_str(headers, "content-type").is_some_and(|c| c.contains("json"));
    let encoding = if json {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the body is larger than {MAX_BODY} bytes")
    } else {
        rejection.body_text()
    };
    HttpError {
        status,
        message,
        encoding,
    }
    .into_response()
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

mod serve;
pub mod tls;
mod zipkin;

#[cfg(test)]
mod tests;
