//! The collector under hostile input: bodies that are not OTLP in the ways
//! a fuzzer finds, wrong shapes, deep nesting, bombs, oversized bodies and
//! slow clients. It never panics, answers each with a client error (or
//! accepts what happens to be a valid export), holds no more than its
//! limit, and every valid export sent among the bad ones arrives.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, KeyValue, KeyValueList, any_value,
};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

fn headers(content_type: &str, encoding: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    if let Some(encoding) = encoding {
        headers.insert("content-encoding", encoding.parse().unwrap());
    }
    headers
}

/// The HTTP receiver's verdict on a trace export: accepted, or the status.
fn judged(headers: &HeaderMap, body: &[u8]) -> Result<(), u16> {
    decode_http::<ExportTraceServiceRequest>("traces", headers, body)
        .map(drop)
        .map_err(|e| e.status.as_u16())
}

/// Accepted, or refused as the client's fault: never a server error.
fn client_error_or_valid(verdict: Result<(), u16>) -> Result<(), TestCaseError> {
    if let Err(status) = verdict {
        prop_assert!((400..500).contains(&status), "status {status}");
    }
    Ok(())
}

/// An export with some of everything: attributes of each kind, events,
/// links, a status; as protobuf.
fn rich_protobuf() -> Vec<u8> {
    let mut export = one_span("rich");
    let span = &mut export.resource_spans[0].scope_spans[0].spans[0];
    span.attributes = vec![
        attribute("s", any_value::Value::StringValue("text".into())),
        attribute("i", any_value::Value::IntValue(-7)),
        attribute("d", any_value::Value::DoubleValue(0.5)),
        attribute("b", any_value::Value::BoolValue(true)),
    ];
    span.parent_span_id = vec![3; 8];
    span.start_time_unix_nano = 1_544_712_660_000_000_000;
    span.end_time_unix_nano = 1_544_712_661_000_000_000;
    export.encode_to_vec()
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// JSON values whose keys are OTLP's, in shapes OTLP's are not.
fn otlp_shaped_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[0-9A-Fa-fx]{0,40}".prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("resourceSpans"),
        Just("scopeSpans"),
        Just("spans"),
        Just("traceId"),
        Just("spanId"),
        Just("parentSpanId"),
        Just("name"),
        Just("kind"),
        Just("startTimeUnixNano"),
        Just("attributes"),
        Just("value"),
        Just("intValue"),
        Just("stringValue"),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys.clone(), inner, 0..6).prop_map(
                |m| {
                    serde_json::Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    )
                }
            ),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_are_refused_never_a_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        json in any::<bool>(),
        zipped in any::<bool>(),
    ) {
        let content_type = if json { "application/json" } else { "application/x-protobuf" };
        let body = if zipped { gzip(&body) } else { body };
        client_error_or_valid(judged(&headers(content_type, zipped.then_some("gzip")), &body))?;
    }

    #[test]
    fn a_cut_or_altered_export_is_refused_or_still_valid(
        json in any::<bool>(),
        keep in 0.0..=1.0_f64,
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        zipped in any::<bool>(),
    ) {
        let (content_type, mut body) = if json {
            ("application/json", SPEC_TRACE_JSON.as_bytes().to_vec())
        } else {
            ("application/x-protobuf", rich_protobuf())
        };
        for (at, byte) in changes {
            let i = at.index(body.len());
            body[i] = byte;
        }
        body.truncate((body.len() as f64 * keep) as usize);
        let body = if zipped { gzip(&body) } else { body };
        client_error_or_valid(judged(&headers(content_type, zipped.then_some("gzip")), &body))?;
    }

    #[test]
    fn json_with_otlp_keys_in_wrong_shapes_is_refused_or_valid(value in otlp_shaped_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        client_error_or_valid(judged(&headers("application/json", None), &body))?;
    }

    #[test]
    fn a_cut_gzip_stream_is_a_client_error(keep in 0.0..1.0_f64) {
        let zipped = gzip(&rich_protobuf());
        let cut = &zipped[..(zipped.len() as f64 * keep) as usize];
        let verdict = judged(&headers("application/x-protobuf", Some("gzip")), cut);
        prop_assert_eq!(verdict, Err(400));
    }
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    // JSON: serde_json stops at 128 levels.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        judged(&headers("application/json", None), deep.as_bytes()),
        Err(400)
    );
    // Protobuf: an attribute value nested 200 deep; prost stops at 100.
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..200 {
        value = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(value),
                    ..Default::default()
                }],
            })),
        };
    }
    let mut export = one_span("deep");
    export.resource_spans[0].scope_spans[0].spans[0].attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    }];
    let verdict = judged(
        &headers("application/x-protobuf", None),
        &export.encode_to_vec(),
    );
    assert_eq!(verdict, Err(400));
}

#[test]
fn wrong_types_ids_and_text_are_refused_with_a_reason() {
    let protobuf = headers("application/x-protobuf", None);
    let json = headers("application/json", None);
    // A span name that is not UTF-8: field 1 (resource spans) > 2 (scope
    // spans) > 2 (spans) > 5 (name), written by hand.
    let name = [0x2a, 0x02, 0xff, 0xfe];
    let span = [&[0x12, name.len() as u8][..], &name].concat();
    let scope = [&[0x12, span.len() as u8][..], &span].concat();
    let resource = [&[0x0a, scope.len() as u8][..], &scope].concat();
    assert_eq!(judged(&protobuf, &resource), Err(400));
    // 200,000 spans whose ids are empty: decoded, then refused whole.
    let mut many = one_span("x");
    let empty = Span {
        name: "no ids".into(),
        ..Default::default()
    };
    many.resource_spans[0].scope_spans[0].spans = vec![empty; 200_000];
    assert_eq!(judged(&protobuf, &many.encode_to_vec()), Err(400));
    for body in [
        r#"{"resourceSpans": 5}"#,
        r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}"#,
        r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5B8E", "spanId": "EEE19B7EC3C1B174"}]}]}]}"#,
        r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "sideways"}]}]}]}"#,
    ] {
        assert_eq!(judged(&json, body.as_bytes()), Err(400), "{body}");
    }
}

#[tokio::test]
async fn an_oversized_body_or_a_gzip_bomb_is_413_with_a_status() {
    let collector = Collector::start(0, 0).await.unwrap();
    let huge = vec![0u8; MAX_BODY + 1];
    let response = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        None,
        huge.clone(),
    )
    .await;
    assert_eq!(response.status(), 413);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert!(status.message.contains("larger than"), "{}", status.message);

    // 64 MiB of zeros shrink to about 64 KiB: small on the wire, refused
    // once inflating passes the limit.
    let bomb = gzip(&huge);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let response = post(
        &collector,
        "/v1/traces",
        "application/json",
        Some("gzip"),
        bomb,
    )
    .await;
    assert_eq!(response.status(), 413);
    let status: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("once inflated"),
        "{status}"
    );

    // gRPC: tonic refuses a message over the limit before reading it, with
    // `OutOfRange` in the trailers (see the appendix on reliability).
    let channel = tonic::transport::Channel::from_shared(collector.grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let refused = raw
        .unary(tonic::Request::new(huge), path, RawCodec)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");

    let response = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        None,
        one_span("after").encode_to_vec(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(collector.store.snapshot().spans.len(), 1);
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_are_served_meanwhile() {
    let collector = Collector::start(0, 0).await.unwrap();
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut stream = tokio::net::TcpStream::connect(collector.http_addr)
            .await
            .unwrap();
        stream
            .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // A body that stops half way.
    let mut stalled = tokio::net::TcpStream::connect(collector.http_addr)
        .await
        .unwrap();
    stalled
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"resourceSpans\"",
        )
        .await
        .unwrap();

    let response = post(
        &collector,
        "/v1/traces",
        "application/x-protobuf",
        None,
        one_span("served").encode_to_vec(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(collector.store.snapshot().spans[0].name, "served");

    // Headers never finished: the server closes the connection.
    let limit = serve::HEADER_READ_TIMEOUT + Duration::from_secs(5);
    for stream in &mut slow {
        let mut buffer = Vec::new();
        let read =
            tokio::time::timeout(limit, stream.read_to_end(&mut buffer)).await;
        assert!(read.is_ok(), "a slow client's connection is still open");
    }
    // The stalled body: 408.
    let limit = serve::REQUEST_TIMEOUT + Duration::from_secs(5);
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stalled.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the stalled request is still open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn valid_exports_among_bad_ones_all_arrive() {
    let collector = Collector::start(0, 0).await.unwrap();
    let url = format!("{}/v1/traces", collector.http_endpoint());
    let client = reqwest::Client::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..90 {
        let (url, client) = (url.clone(), client.clone());
        sends.spawn(async move {
            let (body, valid) = match i % 3 {
                0 => (one_span(&format!("valid {i}")).encode_to_vec(), true),
                1 => (vec![0xff; i], false),
                _ => (rich_protobuf()[..i].to_vec(), false),
            };
            let response = client
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .unwrap();
            (i, valid, response.status().as_u16())
        });
    }
    for (i, valid, status) in sends.join_all().await {
        if valid {
            assert_eq!(status, 200, "request {i}");
        } else {
            // A cut export can end on a field boundary and still be one.
            assert!(
                (400..500).contains(&status) || status == 200,
                "request {i}: {status}"
            );
        }
    }
    let received = collector.store.snapshot();
    let mut names: Vec<&str> = received
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| n.starts_with("valid"))
        .collect();
    names.sort_unstable();
    assert_eq!(names.len(), 30, "{names:?}");
}
