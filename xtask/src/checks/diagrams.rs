//! The book's pictures that no trace can show (a breaker's states, where a
//! message goes), each described in `book/diagrams/<name>.toml` as boxes
//! and labelled arrows and drawn by `diagram` into
//! `book/src/generated/<name>.diagram.svg`, the way the service maps are.
//! `cargo xtask gen` writes them and the `generated` step fails on a stale
//! one, so a picture changes with its description, never by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::diagram::{self, Arrow, Diagram, Line};
use crate::repo::{self, relative};

/// Where the descriptions live.
pub const DIR: &str = "book/diagrams";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Described {
    title: String,
    #[serde(rename = "box")]
    boxes: Vec<DescribedBox>,
    #[serde(rename = "arrow")]
    arrows: Vec<DescribedArrow>,
    /// What each kind of line means.
    #[serde(default)]
    legend: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribedBox {
    name: String,
    /// Drawn grey: outside the picture's subject.
    #[serde(default)]
    grey: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribedArrow {
    from: String,
    to: String,
    label: String,
    #[serde(default = "solid")]
    line: Line,
}

fn solid() -> Line {
    Line::Solid
}

/// Every description's picture: where it goes, and its SVG.
pub fn all() -> Result<Vec<(PathBuf, String)>> {
    let dir = repo::root().join(DIR);
    let mut found: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    let mut out = Vec::new();
    for path in found {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a diagram's file name")?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", relative(&path)))?;
        let svg = render(&text).with_context(|| {
            format!("{} is not a valid diagram", relative(&path))
        })?;
        out.push((
            repo::generated_dir().join(format!("{stem}.diagram.svg")),
            svg,
        ));
    }
    Ok(out)
}

/// The SVG of one description; an arrow to a box that is not declared, or
/// a line kind in the legend that no arrow uses, is an error.
fn render(text: &str) -> Result<String> {
    let described: Described = toml::from_str(text)?;
    let boxes: BTreeMap<String, bool> = described
        .boxes
        .iter()
        .map(|b| (b.name.clone(), b.grey))
        .collect();
    for arrow in &described.arrows {
        for end in [&arrow.from, &arrow.to] {
            if !boxes.contains_key(end) {
                bail!("an arrow names {end:?}, which no [[box]] declares");
            }
        }
    }
    let mut legend = Vec::new();
    for (kind, meaning) in &described.legend {
        let line: Line =
            toml::Value::String(kind.clone())
                .try_into()
                .with_context(|| {
                    format!("legend: {kind:?} is not solid, dashed or dotted")
                })?;
        if !described.arrows.iter().any(|a| a.line == line) {
            bail!("legend: no arrow is {kind}");
        }
        legend.push((line, meaning.clone()));
    }
    legend.sort();
    let description: Vec<String> = described
        .arrows
        .iter()
        .map(|a| format!("{} to {}: {}", a.from, a.to, a.label))
        .collect();
    Ok(diagram::render(&Diagram {
        title: described.title,
        description: description.join("; "),
        boxes,
        arrows: described
            .arrows
            .into_iter()
            .map(|a| Arrow {
                from: a.from,
                to: a.to,
                label: a.label,
                line: a.line,
            })
            .collect(),
        legend,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: &str = r#"
        title = "A breaker"
        [[box]]
        name = "closed"
        [[box]]
        name = "open"
        [[arrow]]
        from = "closed"
        to = "open"
        label = "3 failures in a row"
        [[arrow]]
        from = "open"
        to = "closed"
        label = "a success"
        line = "dashed"
        [legend]
        dashed = "after a trial call"
    "#;

    #[test]
    fn a_description_draws_its_boxes_arrows_and_legend() {
        let svg = render(STATES).unwrap();
        assert!(svg.contains("<desc>closed to open: 3 failures in a row; open to closed: a success</desc>"));
        assert!(
            svg.contains(">closed</text></g>") && svg.contains(">open</text></g>")
        );
        assert!(svg.contains("stroke-dasharray=\"6 4\""));
        assert!(svg.contains(">after a trial call</text>"));
    }

    #[test]
    fn an_unknown_box_a_stray_legend_or_a_typo_is_refused() {
        let unknown = STATES.replace("to = \"open\"", "to = \"opne\"");
        let error = format!("{:#}", render(&unknown).unwrap_err());
        assert!(
            error.contains("\"opne\", which no [[box]] declares"),
            "{error}"
        );
        let stray = format!("{STATES}\ndotted = \"nothing\"");
        let error = format!("{:#}", render(&stray).unwrap_err());
        assert!(error.contains("no arrow is dotted"), "{error}");
        let typo = STATES.replace("label = \"a success\"", "lable = \"a success\"");
        assert!(render(&typo).is_err());
    }
}
