//! A scenario's traces drawn as an SVG waterfall, the way a tracing UI shows
//! them: one row per span, nested by parent, a bar from start to end.
//!
//! Times are normalised to keep the file stable from run to run: every start
//! and end of a trace is replaced by its rank among them, so the bars keep
//! their order and nesting but not their real lengths.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

#[cfg(test)]
use crate::otlp::received::Received;
use crate::otlp::received::SpanRecord;
use crate::otlp::tree::group_traces;
use crate::text::escape_xml;

const ROW: u32 = 22;
const LABEL_WIDTH: u32 = 300;
const BAR_WIDTH: u32 = 480;
const MARGIN: u32 = 10;

/// Renders every distinct trace shape of `received` (identical shapes once,
/// with their count).
#[cfg(test)]
fn render(received: &Received, title: &str) -> String {
    render_spans(received.spans.iter().collect(), title, false)
}

/// As [`render`], for these spans; `distinct` draws each shape once, in a
/// sorted order, without counts.
pub fn render_spans(spans: Vec<&SpanRecord>, title: &str, distinct: bool) -> String {
    let mut shapes: Vec<(String, Vec<Row>, usize)> = Vec::new();
    for trace in group_traces(spans) {
        let rows = rows(&trace);
        let key: String = rows.iter().map(Row::key).collect::<Vec<_>>().join("\n");
        match shapes.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, n)) => *n += 1,
            None => shapes.push((key, rows, 1)),
        }
    }
    if distinct {
        shapes.sort_by(|a, b| a.0.cmp(&b.0));
        shapes.iter_mut().for_each(|(_, _, n)| *n = 1);
    }
    let total_rows: usize = shapes.iter().map(|(_, rows, _)| rows.len() + 1).sum();
    let width = LABEL_WIDTH + BAR_WIDTH + 2 * MARGIN;
    let height = (total_rows as u32 + 1) * ROW + 2 * MARGIN;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
        escape_xml(title)
    );
    let mut y = MARGIN;
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\">{}</text>",
        y + 15,
        escape_xml(title)
    );
    y += ROW;
    for (i, (_, rows, count)) in shapes.iter().enumerate() {
        let caption = if *count > 1 {
            format!("trace {} ({count} traces like this one)", i + 1)
        } else {
            format!("trace {}", i + 1)
        };
        let _ = writeln!(
            svg,
            "<text x=\"{MARGIN}\" y=\"{}\" fill=\"#555555\">{}</text>",
            y + 15,
            escape_xml(&caption)
        );
        y += ROW;
        let ticks = rows.iter().map(|r| r.end).max().unwrap_or(1).max(1);
        for row in rows {
            let x0 = MARGIN + LABEL_WIDTH + row.start * BAR_WIDTH / ticks;
            let x1 = MARGIN + LABEL_WIDTH + row.end * BAR_WIDTH / ticks;
            let (fill, stroke) = colours(row);
            let _ = writeln!(
                svg,
                "<g><title>{}</title>\
                 <text x=\"{}\" y=\"{}\">{}</text>\
                 <rect x=\"{x0}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"{fill}\" stroke=\"{stroke}\"/>\
                 <text x=\"{}\" y=\"{}\" fill=\"#333333\" font-size=\"10\">{}</text></g>",
                escape_xml(&format!(
                    "{} ({}, {}, {})",
                    row.name, row.kind, row.service, row.status
                )),
                MARGIN + row.depth * 14,
                y + 15,
                escape_xml(&fit(&row.name, LABEL_WIDTH - row.depth * 14)),
                y + 4,
                (x1 - x0).max(2),
                ROW - 8,
                x0 + 4,
                y + 15,
                escape_xml(&label(row)),
            );
            y += ROW;
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// `svg` without where its bars start and how long they are: the rows,
/// their names and labels, which stay the same from run to run when only
/// the order in which concurrent spans end changes.
pub fn without_timings(svg: &str) -> String {
    svg.lines()
        .map(|line| match (line.find("<rect x="), line.rfind("\">")) {
            (Some(bar), Some(label)) if line.starts_with("<g>") && label > bar => {
                format!("{}{}", &line[..bar], &line[label + 2..])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One span as drawn.
struct Row {
    depth: u32,
    name: String,
    kind: &'static str,
    status: &'static str,
    service: String,
    start: u32,
    end: u32,
}

impl Row {
    fn key(&self) -> String {
        format!(
            "{} {} {} {} {} {} {}",
            self.depth,
            self.name,
            self.kind,
            self.status,
            self.service,
            self.start,
            self.end
        )
    }
}

fn label(row: &Row) -> String {
    match row.status {
        "error" => format!("{} · error", row.kind),
        _ => row.kind.to_owned(),
    }
}

fn colours(row: &Row) -> (&'static str, &'static str) {
    let fill = match row.kind {
        "server" => "#a6c8e8",
        "client" => "#f7c38d",
        "producer" | "consumer" => "#b5dba8",
        _ => "#c9d4dd",
    };
    let stroke = if row.status == "error" {
        "#d62728"
    } else {
        "#5a6b7b"
    };
    (fill, stroke)
}

/// Spans in depth-first order, with times replaced by ranks.
///
/// Every start and every end gets a rank of its own, so the scale does not
/// depend on which times happen to coincide (a browser's clock counts whole
/// milliseconds). A child's times are first clamped into its parent's: two
/// clocks may disagree by less than their resolution, and a waterfall must
/// still nest. Equal times are ordered as a depth-first walk meets them: a
/// parent's start before its child's, a child's end before its parent's,
/// one sibling's end before the next one's start.
fn rows(trace: &[&SpanRecord]) -> Vec<Row> {
    let ids: HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&SpanRecord>> = BTreeMap::new();
    let mut roots = Vec::new();
    for span in trace {
        match span.parent_span_id.as_deref() {
            Some(p) if ids.contains(p) => children.entry(p).or_default().push(span),
            _ => roots.push(*span),
        }
    }
    let order = |a: &&SpanRecord, b: &&SpanRecord| {
        (a.start_unix_nano, &a.name).cmp(&(b.start_unix_nano, &b.name))
    };
    roots.sort_by(order);
    children.values_mut().for_each(|c| c.sort_by(order));

    // Depth-first, with each span's (start, end) clamped into its parent's,
    // and its place in the walk: `enter` before its children, `leave` after.
    struct Visit<'a> {
        span: &'a SpanRecord,
        depth: u32,
        start: u64,
        end: u64,
        enter: usize,
        leave: usize,
    }
    fn walk<'a>(
        span: &'a SpanRecord,
        depth: u32,
        (low, high): (u64, u64),
        children: &BTreeMap<&str, Vec<&'a SpanRecord>>,
        step: &mut usize,
        out: &mut Vec<Visit<'a>>,
    ) {
        let start = span.start_unix_nano.clamp(low, high);
        let end = span.end_unix_nano.clamp(start, high.max(start));
        let index = out.len();
        out.push(Visit {
            span,
            depth,
            start,
            end,
            enter: *step,
            leave: 0,
        });
        *step += 1;
        for kid in children.get(span.span_id.as_str()).into_iter().flatten() {
            walk(kid, depth + 1, (start, end), children, step, out);
        }
        out[index].leave = *step;
        *step += 1;
    }
    let mut visited = Vec::new();
    let mut step = 0;
    for root in roots {
        walk(root, 0, (0, u64::MAX), &children, &mut step, &mut visited);
    }

    // Ranks by (time, place in the walk): equal times keep the tree's order.
    let mut events: Vec<(u64, usize, usize, bool)> = Vec::new();
    for (i, v) in visited.iter().enumerate() {
        events.push((v.start, v.enter, i, true));
        events.push((v.end, v.leave, i, false));
    }
    events.sort_unstable();
    let mut starts = vec![0u32; visited.len()];
    let mut ends = vec![0u32; visited.len()];
    for (rank, (_, _, i, is_start)) in events.into_iter().enumerate() {
        if is_start {
            starts[i] = rank as u32;
        } else {
            ends[i] = rank as u32;
        }
    }
    visited
        .into_iter()
        .enumerate()
        .map(|(i, v)| Row {
            depth: v.depth,
            name: v.span.name.clone(),
            kind: v.span.kind,
            status: v.span.status,
            service: v.span.service_name.clone(),
            start: starts[i],
            end: ends[i],
        })
        .collect()
}

/// Average width of a character of the labels, in pixels (12 px sans-serif).
const CHAR_WIDTH: u32 = 7;

/// `name`, cut with "…" to fit `width` pixels and a gap before the bars;
/// the whole name stays in the row's tooltip.
fn fit(name: &str, width: u32) -> String {
    let room = (width.saturating_sub(12) / CHAR_WIDTH) as usize;
    if name.chars().count() <= room {
        return name.to_owned();
    }
    let kept: String = name.chars().take(room.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        id: &str,
        parent: Option<&str>,
        name: &str,
        start: u64,
        end: u64,
    ) -> SpanRecord {
        SpanRecord {
            status: if name.contains("fail") {
                "error"
            } else {
                "unset"
            },
            start_unix_nano: start,
            end_unix_nano: end,
            ..SpanRecord::test(name, id, parent)
        }
    }

    #[test]
    fn is_well_formed_and_names_every_span() {
        let received = Received {
            spans: vec![
                span("a", None, "GET /chain", 100, 900),
                span("b", Some("a"), "GET", 200, 800),
                span("c", Some("b"), "GET /hello & <more>", 300, 400),
                span("d", Some("a"), "fail \"step\"", 810, 890),
            ],
            ..Default::default()
        };
        let svg = render(&received, "example");
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let texts: Vec<&str> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        for name in ["GET /chain", "GET", "GET /hello & <more>", "fail \"step\""] {
            assert!(texts.contains(&name), "{name:?} not drawn: {texts:?}");
        }
        let bars: Vec<(f64, f64)> = document
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("rx").is_some())
            .map(|n| {
                let x: f64 = n.attribute("x").unwrap().parse().unwrap();
                let w: f64 = n.attribute("width").unwrap().parse().unwrap();
                (x, x + w)
            })
            .collect();
        // Depth-first order: chain, GET, hello, fail; each child inside its parent.
        assert!(bars[1].0 >= bars[0].0 && bars[1].1 <= bars[0].1);
        assert!(bars[2].0 >= bars[1].0 && bars[2].1 <= bars[1].1);
        assert!(bars[3].0 >= bars[1].1, "fail starts after GET ends");
        assert!(
            svg.contains("stroke=\"#d62728\""),
            "the error span is outlined in red"
        );
    }

    #[test]
    fn coarse_clocks_neither_change_the_scale_nor_break_the_nesting() {
        // A browser span (whole milliseconds) around a server span that,
        // by the server's finer clock, ends after its parent.
        let draw = |browser_end: u64| {
            let received = Received {
                spans: vec![
                    span("a", None, "click", 1_000_000, browser_end),
                    span("b", Some("a"), "POST", 1_000_000, browser_end),
                    span("c", Some("b"), "POST /api", 1_000_200, 1_000_700),
                ],
                ..Default::default()
            };
            render(&received, "example")
        };
        // Ends in the same millisecond as the server's (truncated below its
        // end), or a millisecond later: the same picture.
        assert_eq!(draw(1_000_000), draw(2_000_000));
        let rows = rows(&[
            &span("a", None, "click", 1_000_000, 1_000_000),
            &span("c", Some("a"), "POST /api", 1_000_200, 1_000_700),
        ]);
        assert!(rows[1].start >= rows[0].start && rows[1].end <= rows[0].end);
    }

    #[test]
    fn long_names_are_cut_to_the_label_column() {
        let long = "PATCH /apis/apps/v1/namespaces/{namespace}/deployments/{name}";
        let cut = fit(long, LABEL_WIDTH);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(
            cut.chars().count() as u32 * CHAR_WIDTH <= LABEL_WIDTH - 12 + CHAR_WIDTH
        );
        assert_eq!(fit("GET /hello", LABEL_WIDTH), "GET /hello");
        let svg = render(
            &Received {
                spans: vec![span("a", None, long, 1, 2)],
                ..Default::default()
            },
            "example",
        );
        assert!(
            svg.contains(&format!("<title>{}", escape_xml(long))),
            "tooltip keeps it"
        );
    }

    #[test]
    fn identical_traces_are_drawn_once_with_their_count() {
        let mut spans = Vec::new();
        for i in 0..3u64 {
            let mut s = span(
                &format!("s{i}"),
                None,
                "GET /hello",
                1000 * i,
                1000 * i + 10,
            );
            s.trace_id = format!("t{i}");
            spans.push(s);
        }
        let svg = render(
            &Received {
                spans,
                ..Default::default()
            },
            "example",
        );
        assert!(svg.contains("(3 traces like this one)"));
        assert_eq!(svg.matches(">GET /hello</text>").count(), 1);
    }

    #[test]
    fn without_timings_keeps_the_rows_and_drops_the_bars() {
        let drawn = |mirror_ends: u64, mirror_name: &str| {
            let received = Received {
                spans: vec![
                    span("a", None, "GET /orders/*", 100, 900),
                    span("b", Some("a"), "GET monolith", 200, 600),
                    span("c", Some("a"), mirror_name, 210, mirror_ends),
                ],
                ..Default::default()
            };
            render(&received, "t")
        };
        let (before, after) = (drawn(500, "mirror"), drawn(700, "mirror"));
        assert_ne!(before, after);
        assert_eq!(without_timings(&before), without_timings(&after));
        assert!(without_timings(&before).contains(">mirror</text>"));
        // A row that changed is still a change.
        let renamed = drawn(500, "copy");
        assert_ne!(without_timings(&before), without_timings(&renamed));
    }
}
