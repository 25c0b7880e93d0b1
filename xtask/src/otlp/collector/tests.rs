//! The collector as OTLP clients see it: the official encodings accepted,
//! malformed payloads refused with a message, nothing received ever lost.

use std::io::Write as _;

use bytes::{Buf as _, BufMut as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use super::*;

/// A trace export as in the OTLP specification's `examples/trace.json`
/// (ids in upper-case hex, times as strings, kind as a number).
const SPEC_TRACE_JSON: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "http.response.status_code", "value": {"intValue": "200"}}
        ]
      }]
    }]
  }]
}"#;

/// A metric export as in the specification's `examples/metrics.json`:
/// 64-bit integers as strings, as proto3 JSON writes them.
const SPEC_METRICS_JSON: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeMetrics": [{
      "scope": {"name": "my.library"},
      "metrics": [
        {"name": "my.counter", "unit": "1", "sum": {"aggregationTemporality": 1, "isMonotonic": true,
          "dataPoints": [{"asDouble": 5, "startTimeUnixNano": "1544712660300000000",
            "timeUnixNano": "1544712660300000000",
            "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}]}]}},
        {"name": "my.histogram", "unit": "1", "histogram": {"aggregationTemporality": 1,
          "dataPoints": [{"startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000",
            "count": "2", "sum": 2, "bucketCounts": ["1", "1"], "explicitBounds": [1], "min": 0, "max": 2}]}}
      ]
    }]
  }]
}"#;

/// A log export as in the specification's `examples/logs.json`.
const SPEC_LOGS_JSON: &str = r#"{
  "resourceLogs": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeLogs": [{
      "scope": {"name": "my.library"},
      "logRecords": [{
        "timeUnixNano": "1544712660300000000",
        "observedTimeUnixNano": "1544712660300000000",
        "severityNumber": 10,
        "severityText": "Information",
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "body": {"stringValue": "Example log record"},
        "attributes": [{"key": "int.attribute", "value": {"intValue": 10}}]
      }]
    }]
  }]
}"#;

fn one_span(name: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: name.to_owned(),
                    kind: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post(
    collector: &Collector,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", collector.http_endpoint()))
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn http_accepts_protobuf_json_and_gzip() {
    let collector = Collector::start(0, 0).await.unwrap();
    let protobuf = one_span("protobuf").encode_to_vec();

    let plain = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        None,
        protobuf.clone(),
    )
    .await;
    let zipped = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        gzip(&protobuf),
    )
    .await;
    let json = post(
        &collector,
        "/v1/traces",
        "application/json",
        None,
        SPEC_TRACE_JSON.into(),
    )
    .await;

    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "application/x-protobuf");
    assert_eq!(zipped.status(), 200);
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["content-type"], "application/json");
    let received = collector.store.snapshot();
    let names: Vec<_> = received.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["protobuf", "protobuf", "I'm a server span"]);
    let spec_span = &received.spans[2];
    assert_eq!(spec_span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(
        spec_span.parent_span_id.as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(spec_span.kind, "server");
    assert_eq!(spec_span.service_name, "my.service");
    assert_eq!(spec_span.duration_ms(), 1000.0);
    assert_eq!(spec_span.attributes["http.response.status_code"], 200);
    let transports: Vec<_> = received
        .requests
        .iter()
        .map(|r| (r.transport, r.compression.as_deref()))
        .collect();
    assert_eq!(
        transports,
        [
            ("http/protobuf", None),
            ("http/protobuf", Some("gzip")),
            ("http/json", None)
        ]
    );
}

/// Sends `body` to `/v1/traces` in HTTP/1.1 chunks of `chunk` bytes, with no
/// `content-length`, the way Envoy's and Traefik's OpenTelemetry exporters
/// send theirs; returns the response's status line.
async fn post_chunked(
    collector: &Collector,
    encoding: Option<&str>,
    body: &[u8],
    chunk: usize,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = collector.http_endpoint().replace("http://", "");
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut request = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: {address}\r\n\
         content-type: application/x-protobuf\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n"
    );
    if let Some(encoding) = encoding {
        request += &format!("content-encoding: {encoding}\r\n");
    }
    request += "\r\n";
    let mut bytes = request.into_bytes();
    for piece in body.chunks(chunk) {
        bytes.extend(format!("{:x}\r\n", piece.len()).as_bytes());
        bytes.extend(piece);
        bytes.extend(b"\r\n");
    }
    bytes.extend(b"0\r\n\r\n");
    stream.write_all(&bytes).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let status = response.split(|b| *b == b'\r').next().unwrap_or_default();
    String::from_utf8_lossy(status).into_owned()
}

#[tokio::test]
async fn http_accepts_chunked_bodies_plain_and_gzip() {
    let collector = Collector::start(0, 0).await.unwrap();
    let protobuf = one_span("chunked").encode_to_vec();

    let plain = post_chunked(&collector, None, &protobuf, 7).await;
    let zipped = post_chunked(&collector, Some("gzip"), &gzip(&protobuf), 5).await;

    assert_eq!(plain, "HTTP/1.1 200 OK");
    assert_eq!(zipped, "HTTP/1.1 200 OK");
    let received = collector.store.snapshot();
    let names: Vec<_> = received.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["chunked", "chunked"]);
    // A body cut short in a chunk is refused and adds nothing.
    let cut =
        post_chunked(&collector, None, &protobuf[..protobuf.len() / 2], 7).await;
    assert!(cut.starts_with("HTTP/1.1 400"), "{cut}");
    assert_eq!(collector.store.snapshot().spans.len(), 2);
}

#[tokio::test]
async fn http_json_metrics_and_logs_follow_the_specification_examples() {
    let collector = Collector::start(0, 0).await.unwrap();

    let metrics = post(
        &collector,
        "/v1/metrics",
        "application/json",
        None,
        SPEC_METRICS_JSON.into(),
    )
    .await;
    let logs = post(
        &collector,
        "/v1/logs",
        "application/json",
        None,
        SPEC_LOGS_JSON.into(),
    )
    .await;

    assert_eq!(metrics.status(), 200, "{}", metrics.text().await.unwrap());
    assert_eq!(logs.status(), 200, "{}", logs.text().await.unwrap());
    let received = collector.store.snapshot();
    let metrics: Vec<_> = received
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.kind, m.data_points))
        .collect();
    assert_eq!(
        metrics,
        [("my.counter", "sum", 1), ("my.histogram", "histogram", 1)]
    );
    assert_eq!(
        received.metrics[0].point_attributes[0]["my.counter.attr"],
        "some value"
    );
    let log = &received.logs[0];
    assert_eq!(log.body, "Example log record");
    assert_eq!(log.severity_text, "Information");
    assert_eq!(
        log.trace_id.as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(log.attributes["int.attribute"], 10);
}

#[tokio::test]
async fn http_refuses_bad_payloads_with_a_message_and_loses_nothing() {
    let collector = Collector::start(0, 0).await.unwrap();
    let good = one_span("kept").encode_to_vec();
    assert_eq!(
        post(
            &collector,
            "/v1/traces",
            "application/x-protobuf",
            None,
            good.clone()
        )
        .await
        .status(),
        200
    );

    let truncated = good[..good.len() - 3].to_vec();
    let mut short_id = one_span("short id");
    short_id.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1; 3];
    // (what, content type, content encoding, body, status, message part)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "truncated protobuf",
            "application/x-protobuf",
            None,
            truncated,
            400,
            "not a valid OTLP traces protobuf",
        ),
        (
            "garbage protobuf",
            "application/x-protobuf",
            None,
            vec![0xff; 10],
            400,
            "not a valid OTLP traces protobuf",
        ),
        (
            "broken JSON",
            "application/json",
            None,
            b"{\"resourceSpans\": [".to_vec(),
            400,
            "not a valid OTLP/JSON",
        ),
        (
            "bad hex id",
            "application/json",
            None,
            SPEC_TRACE_JSON.replace("5B8E", "ZZZZ").into(),
            400,
            "not a valid OTLP/JSON",
        ),
        (
            "corrupt gzip",
            "application/x-protobuf",
            Some("gzip"),
            vec![0x1f, 0x8b, 0, 1, 2],
            400,
            "gzip body is corrupt",
        ),
        (
            "3-byte trace id",
            "application/x-protobuf",
            None,
            short_id.encode_to_vec(),
            400,
            "trace id of 3 bytes",
        ),
        (
            "unknown type",
            "text/plain",
            None,
            b"hello".to_vec(),
            415,
            "not an OTLP encoding",
        ),
        (
            "unknown encoding",
            "application/x-protobuf",
            Some("br"),
            good.clone(),
            415,
            "not supported",
        ),
    ];
    for (what, content_type, encoding, body, status, message) in cases {
        let response =
            post(&collector, "/v1/traces", content_type, encoding, body).await;
        assert_eq!(response.status(), status, "{what}");
        let is_json = response.headers()["content-type"] == "application/json";
        let bytes = response.bytes().await.unwrap();
        let text = if is_json {
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned()
        } else {
            RpcStatus::decode(&bytes[..]).unwrap().message
        };
        assert!(text.contains(message), "{what}: {text:?} lacks {message:?}");
    }

    assert_eq!(
        post(
            &collector,
            "/v1/traces",
            "application/x-protobuf",
            None,
            good
        )
        .await
        .status(),
        200
    );
    let names: Vec<_> = collector
        .store
        .snapshot()
        .spans
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["kept", "kept"]);
}

/// Sends raw bytes as a gRPC message, to reach the server's decoder.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

#[tokio::test]
async fn grpc_accepts_plain_and_gzip_and_refuses_garbage_as_invalid_argument() {
    let collector = Collector::start(0, 0).await.unwrap();
    let channel = tonic::transport::Channel::from_shared(collector.grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = TraceServiceClient::new(channel.clone());
    client.export(one_span("plain")).await.unwrap();
    let mut zipped = TraceServiceClient::new(channel.clone())
        .send_compressed(CompressionEncoding::Gzip);
    zipped.export(one_span("gzip")).await.unwrap();

    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let garbage = raw
        .unary(tonic::Request::new(vec![0xff; 10]), path.clone(), RawCodec)
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), tonic::Code::InvalidArgument, "{garbage:?}");

    let mut short_id = one_span("short id");
    short_id.resource_spans[0].scope_spans[0].spans[0].span_id = vec![2; 5];
    let refused = client.export(short_id).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("span id of 5 bytes"),
        "{}",
        refused.message()
    );

    client.export(one_span("after")).await.unwrap();
    let received = collector.store.snapshot();
    let names: Vec<_> = received.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["plain", "gzip", "after"]);
    assert_eq!(received.requests[1].compression.as_deref(), Some("gzip"));
}

#[tokio::test]
async fn zipkin_json_arrives_as_spans_and_junk_is_refused() {
    let collector = Collector::start(0, 0).await.unwrap();
    let zipkin = r#"[{"traceId":"80f198ee56343ba864fe8b2a57d3eff7","id":"a06d5d832bd01e2a",
        "name":"reviews.default.svc.cluster.local:80/*","kind":"SERVER",
        "timestamp":1795838621284000,"duration":1500,
        "localEndpoint":{"serviceName":"reviews.default"},"tags":{"component":"proxy"}}]"#;
    let accepted = post(
        &collector,
        "/api/v2/spans",
        "application/json",
        None,
        zipkin.into(),
    )
    .await;
    assert_eq!(accepted.status(), reqwest::StatusCode::ACCEPTED);
    let refused = post(
        &collector,
        "/api/v2/spans",
        "application/json",
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("not a Zipkin v2 JSON list of spans"),
        "{message}"
    );
    let received = collector.store.snapshot();
    assert_eq!(received.spans.len(), 1, "the refused body added nothing");
    let span = &received.spans[0];
    assert_eq!(
        (span.name.as_str(), span.kind, span.service_name.as_str()),
        (
            "reviews.default.svc.cluster.local:80/*",
            "server",
            "reviews.default"
        )
    );
    assert_eq!(span.trace_id, "80f198ee56343ba864fe8b2a57d3eff7");
    assert_eq!(received.requests[0].transport, "zipkin/json");
}

mod hostile;
mod tls;
