//! Snapshots: the normalised trace trees (and waterfalls) the book
//! includes, compared with what a run produced, and written with `--bless`.
//! A difference is shown as a unified diff.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::spec::Snapshot;
use crate::otlp::received::{Received, SpanRecord};
use crate::otlp::tree::{AttributeFilter, Style, group_traces, render_trace};
use crate::repo::relative;
use crate::text::unified_diff;

/// Columns of a snapshot line: the book shows it without horizontal scrolling.
const SNAPSHOT_WIDTH: usize = 80;

/// The spans the snapshot and the waterfall show: with `roots`, those of
/// the traces whose root is named in it.
pub fn spans<'a>(
    snapshot: &Snapshot,
    received: &'a Received,
) -> Vec<&'a SpanRecord> {
    if snapshot.roots.is_empty() {
        return received.spans.iter().collect();
    }
    group_traces(&received.spans)
        .into_iter()
        .filter(|trace| {
            let ids: std::collections::HashSet<&str> =
                trace.iter().map(|s| s.span_id.as_str()).collect();
            trace.iter().any(|s| {
                let is_root =
                    s.parent_span_id.as_deref().is_none_or(|p| !ids.contains(p));
                is_root && snapshot.roots.contains(&s.name)
            })
        })
        .flatten()
        .collect()
}

/// The normalised trace trees of a run: no ids, no timings; identical trees
/// are printed once with their count.
pub fn render_snapshot(received: &Received, snapshot: &Snapshot) -> String {
    let style = Style {
        timings: false,
        attributes: AttributeFilter::Only(&snapshot.attributes),
        width: Some(SNAPSHOT_WIDTH),
    };
    render_trees(spans(snapshot, received), &style, snapshot.distinct)
}

/// Trees of `spans`, one per trace; identical trees once with their
/// count (or, `distinct`, once each, sorted, without counts).
pub fn render_trees(
    spans: Vec<&SpanRecord>,
    style: &Style,
    distinct: bool,
) -> String {
    let mut trees: Vec<(String, usize)> = Vec::new();
    for trace in group_traces(spans) {
        let tree = render_trace(&trace, style);
        match trees.iter_mut().find(|(t, _)| *t == tree) {
            Some((_, n)) => *n += 1,
            None => trees.push((tree, 1)),
        }
    }
    if distinct {
        trees.sort();
        trees.iter_mut().for_each(|(_, n)| *n = 1);
    }
    let mut out = String::new();
    for (i, (tree, n)) in trees.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if *n > 1 {
            out += &format!("({n} traces like this one)\n");
        }
        out += tree;
    }
    out
}

/// Fails when `path` differs from `content`, showing a unified diff (for
/// text; a changed drawing is only named), unless blessing, which writes it.
pub fn compare_or_bless(
    path: &Path,
    content: &str,
    bless: bool,
    show: bool,
) -> Result<()> {
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed == content {
        return Ok(());
    }
    if bless {
        std::fs::create_dir_all(
            path.parent().context("snapshot path has a parent")?,
        )?;
        std::fs::write(path, content)?;
        println!("  blessed {}", relative(path));
        return Ok(());
    }
    if !show {
        bail!(
            "{} changed; if the change is intended, rerun with --bless",
            relative(path)
        );
    }
    bail!(
        "the trace snapshot changed; if the change is intended, rerun with --bless\n{}",
        unified_diff(&committed, content, &relative(path))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_snapshot_fails_with_a_unified_diff_and_bless_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txt");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        compare_or_bless(&path, "a\nb\nc\n", false, true).unwrap();
        let error = compare_or_bless(&path, "a\nB\nc\n", false, true).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("-b\n+B\n"), "{text}");
        assert!(text.contains("@@ -1,3 +1,3 @@"), "{text}");
        compare_or_bless(&path, "a\nB\nc\n", true, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nB\nc\n");
        let drawing = compare_or_bless(&path, "<svg/>", false, false).unwrap_err();
        assert!(
            drawing.to_string().contains("changed; if the change"),
            "{drawing}"
        );
    }
}
