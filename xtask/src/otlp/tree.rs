//! Traces drawn as indented trees, for the live collector view and for the
//! normalised snapshots the book includes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::otlp::received::SpanRecord;

/// Attribute key prefixes worth showing in the live view.
const KEY_ATTRIBUTE_PREFIXES: &[&str] = &[
    "http.",
    "url.",
    "rpc.",
    "db.",
    "messaging.",
    "error.",
    "server.",
    "exception.",
];

/// What a rendering shows besides names, kinds and statuses.
pub struct Style<'a> {
    /// Durations and trace ids (live view); off for stable snapshots.
    pub timings: bool,
    /// Which attributes to print.
    pub attributes: AttributeFilter<'a>,
    /// Lines longer than this move a span's attributes and events onto
    /// continuation lines below it (the book's snapshots); `None` keeps one
    /// line per span (the live view, where the terminal wraps).
    pub width: Option<usize>,
}

/// Which attributes a rendering prints.
pub enum AttributeFilter<'a> {
    /// Those whose keys start with one of [`KEY_ATTRIBUTE_PREFIXES`].
    Key,
    /// Exactly these keys, when present.
    Only(&'a [String]),
}

impl AttributeFilter<'_> {
    fn shows(&self, key: &str) -> bool {
        match self {
            AttributeFilter::Key => {
                KEY_ATTRIBUTE_PREFIXES.iter().any(|p| key.starts_with(p))
            }
            AttributeFilter::Only(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// Groups spans by trace id, in order of each trace's earliest start, except
/// that a trace whose spans link to another trace comes right after it:
/// work done later on behalf of a request (a projection, a consumer) reads
/// best beside its cause, and the order no longer depends on when a
/// background task happened to run.
pub fn group_traces<'a>(
    spans: impl IntoIterator<Item = &'a SpanRecord>,
) -> Vec<Vec<&'a SpanRecord>> {
    let mut traces: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    for span in spans {
        traces.entry(span.trace_id.as_str()).or_default().push(span);
    }
    let mut traces: Vec<_> = traces.into_values().collect();
    traces.sort_by_key(|spans| {
        let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        (start, spans[0].trace_id.clone())
    });
    let ids: HashSet<&str> = traces.iter().map(|t| t[0].trace_id.as_str()).collect();
    // The trace each trace follows: the first other, received trace it links to.
    let cause = |trace: &[&'a SpanRecord]| -> Option<&'a str> {
        let own = trace[0].trace_id.as_str();
        trace
            .iter()
            .flat_map(|span| span.links.iter())
            .map(|(trace_id, _)| trace_id.as_str())
            .find(|id| *id != own && ids.contains(id))
    };
    let causes: Vec<Option<&str>> = traces.iter().map(|t| cause(t)).collect();
    let mut ordered = Vec::with_capacity(traces.len());
    let mut placed = vec![false; traces.len()];
    fn place<'a>(
        i: usize,
        traces: &[Vec<&'a SpanRecord>],
        causes: &[Option<&str>],
        placed: &mut [bool],
        ordered: &mut Vec<Vec<&'a SpanRecord>>,
    ) {
        if placed[i] {
            return;
        }
        placed[i] = true;
        ordered.push(traces[i].clone());
        let id = traces[i][0].trace_id.as_str();
        for j in 0..traces.len() {
            if causes[j] == Some(id) {
                place(j, traces, causes, placed, ordered);
            }
        }
    }
    for i in 0..traces.len() {
        if causes[i].is_none() {
            place(i, &traces, &causes, &mut placed, &mut ordered);
        }
    }
    // Cycles of links (no root cause): in start order.
    for i in 0..traces.len() {
        place(i, &traces, &causes, &mut placed, &mut ordered);
    }
    ordered
}

/// Draws one trace. Spans whose parent did not arrive are drawn as roots,
/// marked `(parent not received)`.
pub fn render_trace(spans: &[&SpanRecord], style: &Style) -> String {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&SpanRecord>> = BTreeMap::new();
    let mut roots = Vec::new();
    for span in spans {
        match span.parent_span_id.as_deref() {
            Some(parent) if ids.contains(parent) => {
                children.entry(parent).or_default().push(span)
            }
            _ => roots.push(*span),
        }
    }
    let order = |a: &&SpanRecord, b: &&SpanRecord| {
        (a.start_unix_nano, &a.name).cmp(&(b.start_unix_nano, &b.name))
    };
    roots.sort_by(order);
    for list in children.values_mut() {
        list.sort_by(order);
    }

    let mut out = String::new();
    if style.timings
        && let Some(first) = spans.first()
    {
        let _ = writeln!(out, "trace {}", first.trace_id);
    }
    for root in roots {
        draw(&mut out, root, None, &children, style, "", None);
    }
    out
}

fn draw(
    out: &mut String,
    span: &SpanRecord,
    parent_service: Option<&str>,
    children: &BTreeMap<&str, Vec<&SpanRecord>>,
    style: &Style,
    prefix: &str,
    branch: Option<bool>,
) {
    let (lead, next_prefix) = match branch {
        None => (String::new(), String::new()),
        Some(last) => (
            format!("{prefix}{}", if last { "└── " } else { "├── " }),
            format!("{prefix}{}", if last { "    " } else { "│   " }),
        ),
    };
    let mut head = format!("{lead}{}  {}", span.name, span.kind);
    if parent_service != Some(span.service_name.as_str()) {
        let _ = write!(head, "  [{}]", span.service_name);
    }
    if parent_service.is_none() && span.parent_span_id.is_some() {
        head.push_str("  (parent not received)");
    }
    if style.timings {
        let _ = write!(head, "  {:.1} ms", span.duration_ms());
    }
    match span.status {
        "unset" => {}
        status if span.status_message.is_empty() => {
            let _ = write!(head, "  {}", status.to_uppercase());
        }
        status => {
            let _ =
                write!(head, "  {}: {}", status.to_uppercase(), span.status_message);
        }
    }
    let mut details: Vec<String> = span
        .attributes
        .iter()
        .filter(|(key, _)| style.attributes.shows(key))
        .map(|(key, value)| format!("{key}={}", short(value)))
        .collect();
    details.extend(span.events.iter().map(|event| format!("event:{event}")));
    if !span.links.is_empty() {
        details.push(format!("links:{}", span.links.len()));
    }
    let kids = children
        .get(span.span_id.as_str())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // Continuation lines keep the tree's guide line down to the children.
    let guide = if kids.is_empty() { "    " } else { "│   " };
    write_wrapped(
        out,
        head,
        &details,
        &format!("{next_prefix}{guide}  "),
        style.width,
    );
    for (i, child) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        draw(
            out,
            child,
            Some(&span.service_name),
            children,
            style,
            &next_prefix,
            Some(last),
        );
    }
}

/// Writes `head` and `details` (two spaces apart) on one line if it fits in
/// `width`; otherwise `head` alone, then the details packed into
/// continuation lines that start with `indent`.
fn write_wrapped(
    out: &mut String,
    head: String,
    details: &[String],
    indent: &str,
    width: Option<usize>,
) {
    let columns = |text: &str| text.chars().count();
    let one_line = details
        .iter()
        .fold(head.clone(), |line, detail| format!("{line}  {detail}"));
    let Some(width) = width.filter(|w| columns(&one_line) > *w) else {
        out.push_str(&one_line);
        out.push('\n');
        return;
    };
    out.push_str(&head);
    out.push('\n');
    let mut line = String::new();
    for detail in details {
        if line.is_empty() {
            line = format!("{indent}{detail}");
        } else if columns(&line) + 2 + columns(detail) <= width {
            line = format!("{line}  {detail}");
        } else {
            out.push_str(&line);
            out.push('\n');
            line = format!("{indent}{detail}");
        }
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::received::Attributes;

    fn span(id: &str, parent: Option<&str>, name: &str, start: u64) -> SpanRecord {
        SpanRecord {
            trace_id: "t1".into(),
            start_unix_nano: start,
            end_unix_nano: start + 1_000_000,
            attributes: Attributes::from([("http.route".into(), Value::from("/a"))]),
            ..SpanRecord::test(name, id, parent)
        }
    }

    #[test]
    fn nests_children_under_parents_in_start_order() {
        let spans = [
            span("c", Some("a"), "second", 3),
            span("a", None, "root", 1),
            span("b", Some("a"), "first", 2),
            span("d", Some("b"), "leaf", 4),
        ];
        let refs: Vec<_> = spans.iter().collect();
        let keys = vec!["http.route".to_owned()];
        let style = Style {
            timings: false,
            attributes: AttributeFilter::Only(&keys),
            width: None,
        };
        assert_eq!(
            render_trace(&refs, &style),
            "root  server  [svc]  http.route=\"/a\"\n\
             ├── first  server  http.route=\"/a\"\n\
             │   └── leaf  server  http.route=\"/a\"\n\
             └── second  server  http.route=\"/a\"\n"
        );
    }

    #[test]
    fn wraps_details_under_the_span_keeping_the_guide_line() {
        let mut root = span("a", None, "GET /chain", 1);
        root.attributes
            .insert("http.request.method".into(), Value::from("GET"));
        root.events = vec!["request served".into()];
        let child = span("b", Some("a"), "GET", 2);
        let spans = [root, child];
        let refs: Vec<_> = spans.iter().collect();
        let keys = vec!["http.route".to_owned(), "http.request.method".to_owned()];
        let style = Style {
            timings: false,
            attributes: AttributeFilter::Only(&keys),
            width: Some(40),
        };
        assert_eq!(
            render_trace(&refs, &style),
            "GET /chain  server  [svc]\n\
             │     http.request.method=\"GET\"\n\
             │     http.route=\"/a\"\n\
             │     event:request served\n\
             └── GET  server  http.route=\"/a\"\n"
        );
    }

    #[test]
    fn a_linked_trace_follows_its_cause_whenever_it_started() {
        let mut command = span("c", None, "handle Deposit", 1);
        command.trace_id = "t-command".into();
        let mut other = span("o", None, "GET /other", 2);
        other.trace_id = "t-other".into();
        let mut projected = span("p", None, "project", 3);
        projected.trace_id = "t-projection".into();
        projected.links = vec![("t-command".into(), "c".into())];
        // The projection ran after the other request; it is listed before it.
        let spans = [other, projected, command];
        let names: Vec<&str> = group_traces(&spans)
            .iter()
            .map(|t| t[0].name.as_str())
            .collect();
        assert_eq!(names, ["handle Deposit", "project", "GET /other"]);
    }

    #[test]
    fn marks_orphans() {
        let spans = [span("b", Some("missing"), "orphan", 1)];
        let refs: Vec<_> = spans.iter().collect();
        let style = Style {
            timings: false,
            attributes: AttributeFilter::Only(&[]),
            width: None,
        };
        assert_eq!(
            render_trace(&refs, &style),
            "orphan  server  [svc]  (parent not received)\n"
        );
    }
}
