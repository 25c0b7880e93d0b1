//! A scenario's service map, drawn from the spans that arrived: each service
//! a box, and an arrow for each way one service reached another. An arrow
//! is labelled with the protocol (from the semantic conventions'
//! attributes: `rpc.system.name`, `messaging.system`, `db.system.name`,
//! `http.request.method`) and drawn by how the trace context crossed:
//!
//! - solid: the callee's span has the caller's as its parent (the context
//!   travelled with the call);
//! - dashed: the callee's span links to the caller's (a message, a batch:
//!   the context travelled, and the consumer started a trace of its own);
//! - dotted, to a grey box: the call's span has no span on the other side
//!   (a database, a cache, a broker, or a service that sends no telemetry).
//!
//! Drawn by `diagram`: a box's column is its distance from the services
//! nobody calls, so a request reads from left to right, and everything is
//! sorted, so the picture is the same from run to run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::diagram::{self, Arrow, Diagram, Line};
use crate::otlp::received::SpanRecord;

/// How the trace context crossed from one service to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Crossing {
    /// The callee's span is the caller's child.
    Parent,
    /// The callee's span links to the caller's.
    Link,
    /// Nothing on the other side sent a span.
    NoSpan,
}

impl Crossing {
    fn line(self) -> Line {
        match self {
            Crossing::Parent => Line::Solid,
            Crossing::Link => Line::Dashed,
            Crossing::NoSpan => Line::Dotted,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Crossing::Parent => "context propagated",
            Crossing::Link => "context linked",
            Crossing::NoSpan => "no span on the other side",
        }
    }
}

/// One arrow of the map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub protocol: String,
    pub crossing: Crossing,
}

/// The arrows the spans show, each once, sorted.
pub fn edges(spans: &[&SpanRecord]) -> Vec<Edge> {
    let by_id: HashMap<(&str, &str), &SpanRecord> = spans
        .iter()
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), *s))
        .collect();
    let mut with_children: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut found = BTreeSet::new();
    for span in spans {
        if let Some(parent) = &span.parent_span_id {
            with_children.insert((span.trace_id.as_str(), parent.as_str()));
            if let Some(caller) =
                by_id.get(&(span.trace_id.as_str(), parent.as_str()))
                && caller.service_name != span.service_name
            {
                found.insert(Edge {
                    from: caller.service_name.clone(),
                    to: span.service_name.clone(),
                    protocol: protocol(caller, Some(span)),
                    crossing: Crossing::Parent,
                });
            }
        }
        for (trace, linked) in &span.links {
            with_children.insert((trace.as_str(), linked.as_str()));
            if let Some(caller) = by_id.get(&(trace.as_str(), linked.as_str()))
                && caller.service_name != span.service_name
            {
                found.insert(Edge {
                    from: caller.service_name.clone(),
                    to: span.service_name.clone(),
                    protocol: protocol(caller, Some(span)),
                    crossing: Crossing::Link,
                });
            }
        }
    }
    // Calls that nothing answered with a span of its own.
    for span in spans {
        let outgoing = matches!(span.kind, "client" | "producer");
        let answered =
            with_children.contains(&(span.trace_id.as_str(), span.span_id.as_str()));
        if outgoing && !answered {
            found.insert(Edge {
                from: span.service_name.clone(),
                to: peer(span),
                protocol: protocol(span, None),
                crossing: Crossing::NoSpan,
            });
        }
    }
    found.into_iter().collect()
}

fn text<'a>(span: &'a SpanRecord, key: &str) -> Option<&'a str> {
    span.attributes.get(key).and_then(|v| v.as_str())
}

/// The protocol of a call, from the caller's span and, when there is one,
/// the callee's.
fn protocol(caller: &SpanRecord, callee: Option<&SpanRecord>) -> String {
    let spans = std::iter::once(caller).chain(callee);
    for span in spans {
        if let Some(system) =
            text(span, "rpc.system.name").or(text(span, "rpc.system"))
        {
            return match system {
                "grpc" => "gRPC".to_owned(),
                other => other.to_owned(),
            };
        }
        if let Some(system) = text(span, "messaging.system") {
            return system.to_owned();
        }
        if let Some(system) =
            text(span, "db.system.name").or(text(span, "db.system"))
        {
            return system.to_owned();
        }
    }
    // `http.method` and `http.url`: the names of Envoy's Zipkin tags.
    let http = std::iter::once(caller).chain(callee).any(|s| {
        ["http.request.method", "http.method", "http.url", "url.full"]
            .iter()
            .any(|key| s.attributes.contains_key(*key))
    });
    if http { "HTTP" } else { "call" }.to_owned()
}

/// The other side of a call that has no span there: the system it names,
/// else a service without telemetry.
fn peer(span: &SpanRecord) -> String {
    text(span, "peer.service")
        .or(text(span, "db.system.name"))
        .or(text(span, "db.system"))
        .or(text(span, "messaging.system"))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("an untraced {} peer", protocol(span, None)))
}

/// The map as an SVG, with `title` on top and a legend below.
pub fn render(spans: &[&SpanRecord], title: &str) -> String {
    let edges = edges(spans);
    let mut boxes: BTreeMap<String, bool> = spans
        .iter()
        .map(|s| (s.service_name.clone(), false))
        .collect();
    for edge in edges.iter().filter(|e| e.crossing == Crossing::NoSpan) {
        boxes.entry(edge.to.clone()).or_insert(true);
    }
    let description: Vec<String> = edges
        .iter()
        .map(|e| {
            format!(
                "{} calls {} over {} ({})",
                e.from,
                e.to,
                e.protocol,
                e.crossing.describe()
            )
        })
        .collect();
    diagram::render(&Diagram {
        title: title.to_owned(),
        description: description.join("; "),
        boxes,
        arrows: edges
            .iter()
            .map(|e| Arrow {
                from: e.from.clone(),
                to: e.to.clone(),
                label: e.protocol.clone(),
                line: e.crossing.line(),
            })
            .collect(),
        legend: [Crossing::Parent, Crossing::Link, Crossing::NoSpan]
            .into_iter()
            .map(|c| (c.line(), c.describe().to_owned()))
            .collect(),
    })
}

#[cfg(test)]
mod tests;
