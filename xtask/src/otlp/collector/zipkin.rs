//! Zipkin's v2 JSON (`POST /api/v2/spans`), the format Envoy's Zipkin
//! tracer and the other B3-era tracers send, turned into OTLP spans, so that
//! a mesh that speaks B3 shows in the same trees as everything else. The
//! mapping is the OpenTelemetry Collector's zipkin receiver's: the local
//! endpoint's service name as `service.name`, 64-bit trace ids padded to
//! 128, tags as string attributes, the `error` tag as the error status,
//! annotations as events. The JSON model is `zipkin-types`' (serde).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status,
};
use zipkin_types::{Kind, Span as ZipkinSpan};

/// What a span without a local service name is filed under, as the SDKs do.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// The spans of a Zipkin v2 JSON body, or why it is not one.
pub fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let spans: Vec<ZipkinSpan> = serde_json::from_slice(body)
        .map_err(|e| format!("not a Zipkin v2 JSON list of spans: {e}"))?;
    Ok(to_otlp(&spans))
}

/// Zipkin spans as one OTLP export, a resource per service.
pub fn to_otlp(spans: &[ZipkinSpan]) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for span in spans {
        let service = span
            .local_endpoint()
            .and_then(|e| e.service_name())
            .unwrap_or(UNKNOWN_SERVICE);
        by_service
            .entry(service.to_owned())
            .or_default()
            .push(convert(span));
    }
    let resource_spans = by_service
        .into_iter()
        .map(|(service, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", &service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "zipkin".to_owned(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn convert(span: &ZipkinSpan) -> Span {
    let start = span.timestamp().map(unix_nanos).unwrap_or(0);
    let end = start + span.duration().map(nanos).unwrap_or(0);
    let kind = match span.kind() {
        Some(Kind::Server) => SpanKind::Server,
        Some(Kind::Client) => SpanKind::Client,
        Some(Kind::Producer) => SpanKind::Producer,
        Some(Kind::Consumer) => SpanKind::Consumer,
        _ => SpanKind::Internal,
    };
    let mut tags: Vec<(&String, &String)> = span.tags().iter().collect();
    tags.sort();
    let error = span.tags().get("error");
    let status = Status {
        code: match error {
            Some(_) => StatusCode::Error as i32,
            None => StatusCode::Unset as i32,
        },
        message: error.cloned().unwrap_or_default(),
    };
    Span {
        trace_id: trace_id(span.trace_id().bytes()),
        span_id: span.id().bytes().to_vec(),
        parent_span_id: span
            .parent_id()
            .map(|p| p.bytes().to_vec())
            .unwrap_or_default(),
        name: span.name().unwrap_or_default().to_owned(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: tags
            .into_iter()
            .filter(|(k, _)| k.as_str() != "error")
            .map(|(k, v)| text(k, v))
            .collect(),
        events: span
            .annotations()
            .iter()
            .map(|a| Event {
                time_unix_nano: unix_nanos(a.timestamp()),
                name: a.value().to_owned(),
                ..Default::default()
            })
            .collect(),
        status: Some(status),
        ..Default::default()
    }
}

/// A 64-bit id padded on the left to 128 bits, as the Collector does.
fn trace_id(bytes: &[u8]) -> Vec<u8> {
    let mut id = vec![0; 16usize.saturating_sub(bytes.len())];
    id.extend_from_slice(bytes);
    id
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map(nanos).unwrap_or(0)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two spans as Envoy's Zipkin tracer sent them (trimmed).
    const ENVOY: &str = r#"[
      {"traceId":"80f198ee56343ba864fe8b2a57d3eff7","id":"a06d5d832bd01e2a",
       "name":"reviews.default.svc.cluster.local:9080/*","kind":"SERVER",
       "timestamp":1795838621284000,"duration":1500,
       "localEndpoint":{"serviceName":"reviews.default","ipv4":"192.0.2.2","port":0},
       "tags":{"component":"proxy","http.status_code":"200","upstream_cluster":"inbound"}},
      {"traceId":"64fe8b2a57d3eff7","id":"81047aa0ac3c8c10","parentId":"a06d5d832bd01e2a",
       "name":"ratings","kind":"CLIENT","timestamp":1795838621284500,"duration":900,
       "tags":{"error":"true","http.status_code":"503"},
       "annotations":[{"timestamp":1795838621284600,"value":"cs"}]}
    ]"#;

    #[test]
    fn envoys_spans_become_otlp_spans_by_service() {
        let export = decode(ENVOY.as_bytes()).unwrap();
        assert_eq!(export.resource_spans.len(), 2);
        let services: Vec<String> = export
            .resource_spans
            .iter()
            .map(
                |rs| match &rs.resource.as_ref().unwrap().attributes[0].value {
                    Some(AnyValue {
                        value: Some(Value::StringValue(s)),
                    }) => s.clone(),
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(services, ["reviews.default", UNKNOWN_SERVICE]);
        let server = &export.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(server.kind, SpanKind::Server as i32);
        assert_eq!(server.trace_id.len(), 16);
        assert_eq!(server.start_time_unix_nano, 1_795_838_621_284_000_000);
        assert_eq!(
            server.end_time_unix_nano - server.start_time_unix_nano,
            1_500_000
        );
        assert_eq!(server.attributes.len(), 3);
        let client = &export.resource_spans[1].scope_spans[0].spans[0];
        // A 64-bit trace id, padded; the parent; the error tag as the status.
        assert_eq!(client.trace_id[..8], [0; 8]);
        assert_eq!(client.trace_id[8..], server.trace_id[8..]);
        assert_eq!(client.parent_span_id, server.span_id);
        let status = client.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(client.attributes.len(), 1, "the error tag is the status");
        assert_eq!(client.events[0].name, "cs");
    }

    #[test]
    fn what_is_not_a_list_of_spans_is_refused() {
        for body in [
            "",
            "{}",
            "[{\"id\":\"zz\"}]",
            "[{\"traceId\":\"abc\",\"id\":\"a06d5d832bd01e2a\"}]",
        ] {
            let error = decode(body.as_bytes()).unwrap_err();
            assert!(
                error.contains("not a Zipkin v2 JSON list of spans"),
                "{body}: {error}"
            );
        }
    }
}
