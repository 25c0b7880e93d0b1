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
//! A box's column is its distance from the services nobody calls, so a
//! request reads from left to right. Everything is sorted, so the picture
//! is the same from run to run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::otlp::received::SpanRecord;
use crate::text::escape_xml;

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

const BOX_WIDTH: u32 = 170;
const BOX_HEIGHT: u32 = 36;
const COLUMN_GAP: u32 = 120;
const ROW_GAP: u32 = 34;
const MARGIN: u32 = 16;
const TITLE: u32 = 30;
const LEGEND: u32 = 70;

/// The map as an SVG, with `title` on top and a legend below.
pub fn render(spans: &[&SpanRecord], title: &str) -> String {
    let edges = edges(spans);
    let mut services: BTreeSet<String> =
        spans.iter().map(|s| s.service_name.clone()).collect();
    let untraced: BTreeSet<String> = edges
        .iter()
        .filter(|e| e.crossing == Crossing::NoSpan)
        .map(|e| e.to.clone())
        .filter(|to| !services.contains(to))
        .collect();
    services.extend(untraced.iter().cloned());
    let columns = columns(&services, &edges);
    let mut placed: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut rows_in: BTreeMap<usize, u32> = BTreeMap::new();
    for (service, column) in &columns {
        let row = rows_in.entry(*column).or_default();
        let x = MARGIN + *column as u32 * (BOX_WIDTH + COLUMN_GAP);
        let y = MARGIN + TITLE + *row * (BOX_HEIGHT + ROW_GAP);
        placed.insert(service.as_str(), (x, y));
        *row += 1;
    }
    let width_columns = columns.values().max().map_or(1, |c| c + 1) as u32;
    let height_rows = rows_in.values().max().copied().unwrap_or(1).max(1);
    let width =
        (2 * MARGIN + width_columns * BOX_WIDTH + (width_columns - 1) * COLUMN_GAP)
            .max(460);
    let height = MARGIN + TITLE + height_rows * (BOX_HEIGHT + ROW_GAP) + LEGEND;
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
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{}</title>\n<desc>{}</desc>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444444\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\">{}</text>\n",
        escape_xml(title),
        escape_xml(&description.join("; ")),
        MARGIN + 14,
        escape_xml(title)
    );
    for (i, edge) in edges.iter().enumerate() {
        let (Some(&(fx, fy)), Some(&(tx, ty))) =
            (placed.get(edge.from.as_str()), placed.get(edge.to.as_str()))
        else {
            continue;
        };
        let style = match edge.crossing {
            Crossing::Parent => "",
            Crossing::Link => " stroke-dasharray=\"6 4\"",
            Crossing::NoSpan => " stroke-dasharray=\"2 3\"",
        };
        let (x1, y1) = (fx + BOX_WIDTH, fy + BOX_HEIGHT / 2);
        let (x2, y2) = (tx, ty + BOX_HEIGHT / 2);
        // Forward arrows are straight; one to the same or an earlier
        // column bends below the boxes. Labels of arrows that share a
        // path are stacked.
        let offset = 12
            * (edges[..i]
                .iter()
                .filter(|e| e.from == edge.from && e.to == edge.to)
                .count() as u32);
        if x2 > x1 {
            let _ = writeln!(
                svg,
                "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#444444\"{style} \
                 marker-end=\"url(#arrow)\"/>"
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                (x1 + x2) / 2,
                (y1 + y2) / 2 - 5 + offset,
                escape_xml(&edge.protocol)
            );
        } else {
            let (sx, sy) = (fx + BOX_WIDTH / 2, fy + BOX_HEIGHT);
            let (ex, ey) = (tx + BOX_WIDTH / 3, ty + BOX_HEIGHT);
            let low = sy.max(ey) + ROW_GAP - 6;
            let _ = writeln!(
                svg,
                "<path d=\"M {sx} {sy} C {sx} {low} {ex} {low} {ex} {ey}\" fill=\"none\" \
                 stroke=\"#444444\"{style} marker-end=\"url(#arrow)\"/>"
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                (sx + ex) / 2 + 24,
                low - 2 + offset,
                escape_xml(&edge.protocol)
            );
        }
    }
    for (service, (x, y)) in &placed {
        let fill = if untraced.contains(*service) {
            "#eeeeee"
        } else {
            "#e8f0fe"
        };
        let _ = writeln!(
            svg,
            "<g><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" \
             rx=\"6\" fill=\"{fill}\" stroke=\"#444444\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            x + BOX_WIDTH / 2,
            y + BOX_HEIGHT / 2 + 4,
            escape_xml(service)
        );
    }
    let legend_y = height - LEGEND + 20;
    for (i, (crossing, style)) in [
        (Crossing::Parent, ""),
        (Crossing::Link, " stroke-dasharray=\"6 4\""),
        (Crossing::NoSpan, " stroke-dasharray=\"2 3\""),
    ]
    .into_iter()
    .enumerate()
    {
        let y = legend_y + i as u32 * 16;
        let _ = writeln!(
            svg,
            "<line x1=\"{MARGIN}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#444444\"{style}/>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            MARGIN + 40,
            MARGIN + 48,
            y + 4,
            crossing.describe()
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Each service's column: 0 for those no other service calls, else one
/// more than the furthest caller's (cycles broken at the first visit).
fn columns(services: &BTreeSet<String>, edges: &[Edge]) -> BTreeMap<String, usize> {
    let mut column: BTreeMap<String, usize> =
        services.iter().map(|s| (s.clone(), 0)).collect();
    // Longest path, relaxed as many times as there are services: enough for
    // any chain without a cycle, and a bound with one.
    for _ in 0..services.len() {
        let mut changed = false;
        for edge in edges.iter().filter(|e| e.from != e.to) {
            let next = column.get(&edge.from).copied().unwrap_or(0) + 1;
            let current = column.entry(edge.to.clone()).or_default();
            if next > *current && next < services.len() {
                *current = next;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

#[cfg(test)]
mod tests;
