use serde_json::json;

use super::*;

fn span(
    service: &str,
    id: &str,
    parent: Option<&str>,
    kind: &'static str,
    attributes: &[(&str, serde_json::Value)],
) -> SpanRecord {
    let mut span = SpanRecord::test(id, id, parent);
    span.service_name = service.into();
    span.kind = kind;
    for (key, value) in attributes {
        span.attributes.insert((*key).to_owned(), value.clone());
    }
    span
}

fn http() -> (&'static str, serde_json::Value) {
    ("http.request.method", json!("GET"))
}

/// A gateway calls an API over HTTP, the API queries PostgreSQL and
/// publishes to Kafka, and a worker consumes with a link.
fn spans() -> Vec<SpanRecord> {
    let mut consumer = span(
        "worker",
        "c",
        None,
        "consumer",
        &[("messaging.system", json!("kafka"))],
    );
    consumer.links.push(("t".into(), "p".into()));
    vec![
        span("gateway", "g", None, "server", &[http()]),
        span("gateway", "gc", Some("g"), "client", &[http()]),
        span("api", "a", Some("gc"), "server", &[http()]),
        span(
            "api",
            "db",
            Some("a"),
            "client",
            &[("db.system.name", json!("postgresql"))],
        ),
        span(
            "api",
            "p",
            Some("a"),
            "producer",
            &[("messaging.system", json!("kafka"))],
        ),
        consumer,
        // A call to the service itself is no arrow.
        span("api", "self", Some("a"), "client", &[http()]),
        span("api", "self-server", Some("self"), "server", &[http()]),
    ]
}

#[test]
fn each_crossing_is_an_arrow_with_its_protocol() {
    let spans = spans();
    let all: Vec<&SpanRecord> = spans.iter().collect();
    let edges = edges(&all);
    let edge = |from: &str, to: &str, protocol: &str, crossing| Edge {
        from: from.into(),
        to: to.into(),
        protocol: protocol.into(),
        crossing,
    };
    assert_eq!(
        edges,
        vec![
            edge("api", "postgresql", "postgresql", Crossing::NoSpan),
            edge("api", "worker", "kafka", Crossing::Link),
            edge("gateway", "api", "HTTP", Crossing::Parent),
        ]
    );
}

#[test]
fn a_call_nothing_answered_goes_to_an_untraced_peer() {
    let alone = [span(
        "app",
        "x",
        None,
        "client",
        &[("http.request.method", json!("GET"))],
    )];
    let all: Vec<&SpanRecord> = alone.iter().collect();
    assert_eq!(edges(&all)[0].to, "an untraced HTTP peer");
    assert_eq!(edges(&all)[0].crossing, Crossing::NoSpan);
}

#[test]
fn the_picture_reads_left_to_right_and_is_stable() {
    let spans = spans();
    let all: Vec<&SpanRecord> = spans.iter().collect();
    let svg = render(&all, "example: services");
    let x_of = |name: &str| -> u32 {
        let at = svg.find(&format!(">{name}</text></g>")).unwrap();
        let start = svg[..at].rfind("<rect x=\"").unwrap() + 9;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    assert!(x_of("gateway") < x_of("api"));
    assert!(x_of("api") < x_of("worker"));
    assert!(x_of("api") < x_of("postgresql"));
    assert!(svg.contains("gateway calls api over HTTP (context propagated)"));
    assert!(
        svg.contains("stroke-dasharray=\"6 4\""),
        "the link is dashed"
    );
    let mut reversed: Vec<&SpanRecord> = spans.iter().collect();
    reversed.reverse();
    assert_eq!(render(&reversed, "example: services"), svg);
}

#[test]
fn a_cycle_does_not_loop_forever() {
    let spans = [
        span("a", "1", None, "client", &[]),
        span("b", "2", Some("1"), "server", &[]),
        span("b", "3", Some("2"), "client", &[]),
        span("a", "4", Some("3"), "server", &[]),
    ];
    let all: Vec<&SpanRecord> = spans.iter().collect();
    assert_eq!(edges(&all).len(), 2);
    assert!(render(&all, "cycle").ends_with("</svg>\n"));
}

#[test]
fn grpc_and_envoys_zipkin_tags_name_their_protocol() {
    let spans = [
        span(
            "shop",
            "1",
            None,
            "client",
            &[("rpc.system.name", json!("grpc"))],
        ),
        span("inventory", "2", Some("1"), "server", &[]),
        span("shop", "3", None, "client", &[]),
        span(
            "mesh",
            "4",
            Some("3"),
            "server",
            &[("http.method", json!("GET"))],
        ),
    ];
    let all: Vec<&SpanRecord> = spans.iter().collect();
    let protocols: Vec<String> =
        edges(&all).into_iter().map(|e| e.protocol).collect();
    assert_eq!(protocols, vec!["gRPC", "HTTP"]);
}
