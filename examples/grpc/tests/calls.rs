//! The RPC layer on both sides of a real tonic server on port 0: spans joined
//! across the wire, the status mapping of the conventions, deadlines, streams
//! whose spans last as long as the stream, and what a client without the
//! layer does to the trace.

mod recorded;

use std::net::SocketAddr;
use std::time::Duration;

use example_grpc::inventory::InventoryService;
use example_grpc::proto::inventory_client::InventoryClient;
use example_grpc::proto::inventory_server::InventoryServer;
use example_grpc::proto::{self, GetItemRequest, ListItemsRequest, RestockLine};
use example_grpc::rpc::{Methods, Rpc, RpcLayer, status_code};
use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::trace::SpanData;
use recorded::{Recorded, attribute, metric};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Server};
use tower::ServiceBuilder;
use tracing::Instrument as _;

const GET_ITEM: &str = "inventory.v1.Inventory/GetItem";

/// The inventory with the server layer, on a free port.
async fn start_inventory(recorded: &Recorded, remote_delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let methods =
        Methods::from_descriptor_sets(&[proto::FILE_DESCRIPTOR_SET]).unwrap();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<InventoryServer<InventoryService>>()
        .await;
    let server = Server::builder()
        .layer(RpcLayer::server(&recorded.meter(), methods))
        .add_service(health_service)
        .add_service(InventoryServer::new(InventoryService::new(remote_delay)));
    tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}")).unwrap()
}

/// A client with the layer, as the shop makes it.
fn traced_client(
    recorded: &Recorded,
    addr: SocketAddr,
) -> InventoryClient<Rpc<Channel>> {
    let endpoint = endpoint(addr);
    let channel = ServiceBuilder::new()
        .layer(RpcLayer::client(&recorded.meter(), endpoint.uri()))
        .service(endpoint.connect_lazy());
    InventoryClient::new(channel)
}

fn get(sku: &str, timeout: Duration) -> tonic::Request<GetItemRequest> {
    let mut request = tonic::Request::new(GetItemRequest {
        sku: sku.to_owned(),
    });
    request.set_timeout(timeout);
    request
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|value| value.as_str().into_owned())
}

/// The client span and the server span of the one call to `method`, waiting
/// up to two seconds for the second: when a call fails on the client first,
/// the server's span ends a moment later.
async fn pair(recorded: &Recorded, method: &str) -> (SpanData, SpanData) {
    let mut spans = recorded.spans_named(method);
    for _ in 0..200 {
        if spans.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        spans = recorded.spans_named(method);
    }
    let of = |kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.span_kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} span {method}"))
            .clone()
    };
    assert_eq!(spans.len(), 2, "{spans:#?}");
    (of(SpanKind::Client), of(SpanKind::Server))
}

// ANCHOR: joined
#[tokio::test]
async fn a_call_is_a_client_span_and_a_server_span_in_one_trace() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let mut client = traced_client(&recorded, addr);

    let item = client
        .get_item(get("sku-1", Duration::from_secs(5)))
        .instrument(tracing::info_span!("caller"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(item.name, "keyboard");

    let caller = recorded.span("caller");
    let (client, server) = pair(&recorded, GET_ITEM).await;
    assert_eq!(client.parent_span_id, caller.span_context.span_id());
    assert_eq!(server.parent_span_id, client.span_context.span_id());
    assert_eq!(
        server.span_context.trace_id(),
        caller.span_context.trace_id()
    );
    for span in [&client, &server] {
        assert_eq!(string(span, "rpc.system.name").as_deref(), Some("grpc"));
        assert_eq!(string(span, "rpc.method").as_deref(), Some(GET_ITEM));
        assert_eq!(
            string(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
        assert_eq!(span.status, Status::Unset);
    }
    assert_eq!(
        string(&client, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attribute(&client, "server.port"),
        Some(Value::I64(i64::from(addr.port())))
    );
}
// ANCHOR_END: joined

// ANCHOR: statuses
#[tokio::test]
async fn not_found_is_an_error_for_the_client_only_and_internal_for_both() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let mut client = traced_client(&recorded, addr);

    let missing = client
        .get_item(get("sku-404", Duration::from_secs(5)))
        .await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    let (client_span, server_span) = pair(&recorded, GET_ITEM).await;
    assert_eq!(client_span.status, Status::error("no item sku-404"));
    assert_eq!(server_span.status, Status::Unset);
    assert_eq!(
        string(&server_span, "rpc.response.status_code").as_deref(),
        Some("NOT_FOUND")
    );
    assert_eq!(string(&server_span, "error.type"), None);

    let broken = client.get_item(get("sku-9", Duration::from_secs(5))).await;
    assert_eq!(broken.unwrap_err().code(), Code::Internal);
    let spans = recorded.spans_named(GET_ITEM);
    let internal: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            string(s, "rpc.response.status_code").as_deref() == Some("INTERNAL")
        })
        .collect();
    assert_eq!(internal.len(), 2);
    for span in internal {
        assert_eq!(
            span.status,
            Status::error("the record of sku-9 cannot be read")
        );
        assert_eq!(string(span, "error.type").as_deref(), Some("INTERNAL"));
    }
}
// ANCHOR_END: statuses

// ANCHOR: deadline
#[tokio::test]
async fn a_deadline_that_passes_ends_both_spans_as_deadline_exceeded() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::from_secs(2)).await;
    let mut client = traced_client(&recorded, addr);

    let late = client
        .get_item(get("sku-3", Duration::from_millis(200)))
        .await;
    // tonic says CANCELLED ("Timeout expired") when its own timer fires;
    // gRPC, and the layer, say DEADLINE_EXCEEDED.
    let late = late.unwrap_err();
    assert_eq!(late.code(), Code::Cancelled, "{late:?}");
    assert_eq!(status_code(&late), Code::DeadlineExceeded);

    // tonic's own timeout, outside the layer, drops the handler: the layer
    // records why, and the warehouse lookup under it is cut short.
    let (client_span, server_span) = pair(&recorded, GET_ITEM).await;
    for span in [&client_span, &server_span] {
        assert_eq!(
            string(span, "rpc.response.status_code").as_deref(),
            Some("DEADLINE_EXCEEDED")
        );
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    }
    let lookup = recorded.span("ask remote warehouse");
    assert_eq!(lookup.parent_span_id, server_span.span_context.span_id());
    let took = lookup.end_time.duration_since(lookup.start_time).unwrap();
    assert!(took < Duration::from_secs(1), "the lookup ran on: {took:?}");
}
// ANCHOR_END: deadline

// ANCHOR: stream
#[tokio::test]
async fn a_streaming_call_span_lasts_until_the_last_message_is_read() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let mut client = traced_client(&recorded, addr);

    let mut stream = client
        .list_items(ListItemsRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.sku, "sku-1");
    // The server may be done (it wrote every message into the connection's
    // buffers), but the client's call is not over until it reads the last.
    let client_spans = |recorded: &Recorded| {
        recorded
            .spans_named("inventory.v1.Inventory/ListItems")
            .into_iter()
            .filter(|s| s.span_kind == SpanKind::Client)
            .count()
    };
    assert_eq!(client_spans(&recorded), 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut rest = 0;
    while stream.message().await.unwrap().is_some() {
        rest += 1;
    }
    assert_eq!(rest, 2);

    let (client_span, _server) =
        pair(&recorded, "inventory.v1.Inventory/ListItems").await;
    let took = client_span
        .end_time
        .duration_since(client_span.start_time)
        .unwrap();
    assert!(
        took >= Duration::from_millis(100),
        "the span ended early: {took:?}"
    );
}
// ANCHOR_END: stream

#[tokio::test]
async fn a_delivery_with_a_bad_line_changes_nothing_and_is_the_callers_fault() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let mut client = traced_client(&recorded, addr);
    let line = |sku: &str, quantity| RestockLine {
        sku: sku.to_owned(),
        quantity,
    };

    let refused = client
        .restock(tokio_stream::iter([line("sku-1", 5), line("sku-404", 1)]))
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::NotFound);
    let summary = client
        .restock(tokio_stream::iter([line("sku-1", 5), line("sku-2", 3)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.lines, summary.units), (2, 8));
    let item = client
        .get_item(get("sku-1", Duration::from_secs(5)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        item.quantity,
        12 + 5,
        "only the second delivery was applied"
    );

    let restocks = recorded.spans_named("inventory.v1.Inventory/Restock");
    let server_errors = restocks
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server && s.status != Status::Unset)
        .count();
    assert_eq!(server_errors, 0);

    let exported = recorded.metrics();
    let duration = metric(&exported, "rpc.server.call.duration");
    assert_eq!(duration.unit(), "s");
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = duration.data()
    else {
        panic!("rpc.server.call.duration is not an f64 histogram");
    };
    let calls: u64 = histogram.data_points().map(|p| p.count()).sum();
    assert_eq!(calls, 3);
}

// ANCHOR: pitfall
/// The pitfall: a channel without the client layer sends no `traceparent`,
/// so the server's span starts a trace of its own.
#[tokio::test]
async fn a_client_without_the_layer_starts_a_new_trace() {
    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let mut bare = InventoryClient::new(endpoint(addr).connect_lazy());

    bare.get_item(get("sku-1", Duration::from_secs(5)))
        .instrument(tracing::info_span!("caller"))
        .await
        .unwrap();

    let caller = recorded.span("caller");
    let server = recorded.span(GET_ITEM);
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(server.parent_span_id, SpanId::INVALID);
    assert_ne!(
        server.span_context.trace_id(),
        caller.span_context.trace_id()
    );
}
// ANCHOR_END: pitfall

#[tokio::test]
async fn health_checks_make_no_span() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let recorded = Recorded::start();
    let addr = start_inventory(&recorded, Duration::ZERO).await;
    let endpoint = endpoint(addr);
    let channel = ServiceBuilder::new()
        .layer(RpcLayer::client(&recorded.meter(), endpoint.uri()))
        .service(endpoint.connect_lazy());
    let mut health = HealthClient::new(channel.clone());
    for _ in 0..3 {
        health
            .check(HealthCheckRequest {
                service: "inventory.v1.Inventory".to_owned(),
            })
            .await
            .unwrap();
    }
    // One traced call, so that an empty recording is not mistaken for a pass.
    InventoryClient::new(channel)
        .get_item(get("sku-2", Duration::from_secs(5)))
        .await
        .unwrap();
    // The RPC spans only (the recording also holds h2's own trace-level spans).
    let names: Vec<String> = recorded
        .finished_spans()
        .iter()
        .filter(|s| attribute(s, "rpc.system.name").is_some())
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, [GET_ITEM, GET_ITEM], "{names:?}");
}

#[test]
fn the_server_recognises_the_methods_of_its_descriptors_only() {
    let methods =
        Methods::from_descriptor_sets(&[proto::FILE_DESCRIPTOR_SET]).unwrap();
    for method in ["GetItem", "ListItems", "Restock"] {
        assert!(methods.recognizes(&format!("inventory.v1.Inventory/{method}")));
    }
    assert!(!methods.recognizes("inventory.v1.Inventory/DeleteEverything"));
    assert!(Methods::from_descriptor_sets(&[b"not a descriptor"]).is_err());
}
