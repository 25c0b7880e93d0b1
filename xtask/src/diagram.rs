//! Boxes and arrows as SVG, for the book's diagrams: the service maps the
//! scenarios draw from what arrived (`otlp::map`), and the pictures of
//! `book/diagrams/` that no trace can show (`checks::diagrams`). A box's
//! column is its distance from the boxes no arrow reaches, so a picture
//! reads from left to right; an arrow to the same or an earlier column
//! bends below the boxes. Everything is placed in sorted order, so the
//! same input always draws the same file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::text::escape_xml;

/// How an arrow is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Line {
    Solid,
    Dashed,
    Dotted,
}

impl Line {
    fn style(self) -> &'static str {
        match self {
            Line::Solid => "",
            Line::Dashed => " stroke-dasharray=\"6 4\"",
            Line::Dotted => " stroke-dasharray=\"2 3\"",
        }
    }
}

/// One arrow, labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrow {
    pub from: String,
    pub to: String,
    pub label: String,
    pub line: Line,
}

/// What to draw.
#[derive(Debug, Default)]
pub struct Diagram {
    pub title: String,
    /// What the picture shows, in words: the SVG's `<desc>`.
    pub description: String,
    /// Every box, by name; `true` draws it grey (a part outside the picture's
    /// subject: a system that sends no telemetry, say).
    pub boxes: BTreeMap<String, bool>,
    pub arrows: Vec<Arrow>,
    /// What each kind of line means, below the picture.
    pub legend: Vec<(Line, String)>,
}

const BOX_WIDTH: u32 = 170;
const BOX_HEIGHT: u32 = 36;
/// The narrowest gap between columns; a long label widens it.
const COLUMN_GAP: u32 = 120;
/// About how wide a character of an arrow's label is.
const LABEL_CHAR: u32 = 6;
/// A white outline under a label, so that a line it crosses does not
/// cross its letters.
const HALO: &str = " stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"";
/// How far apart arrows between the same two boxes are drawn.
const PARALLEL: i64 = 18;
const ROW_GAP: u32 = 34;
const MARGIN: u32 = 16;
const TITLE: u32 = 30;
const LEGEND_LINE: u32 = 16;

/// The diagram as an SVG, with its title on top and its legend below.
pub fn render(diagram: &Diagram) -> String {
    let names: BTreeSet<String> = diagram.boxes.keys().cloned().collect();
    let columns = columns(&names, &diagram.arrows);
    let longest = diagram
        .arrows
        .iter()
        .map(|a| a.label.chars().count() as u32)
        .max()
        .unwrap_or(0);
    let gap = COLUMN_GAP.max(longest * LABEL_CHAR + 24);
    let mut placed: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    let mut rows_in: BTreeMap<usize, u32> = BTreeMap::new();
    for (name, column) in &columns {
        let row = rows_in.entry(*column).or_default();
        let x = MARGIN + *column as u32 * (BOX_WIDTH + gap);
        let y = MARGIN + TITLE + *row * (BOX_HEIGHT + ROW_GAP);
        placed.insert(name.as_str(), (x, y));
        *row += 1;
    }
    let width_columns = columns.values().max().map_or(1, |c| c + 1) as u32;
    let height_rows = rows_in.values().max().copied().unwrap_or(1).max(1);
    let width = (2 * MARGIN + width_columns * BOX_WIDTH + (width_columns - 1) * gap)
        .max(460);
    let legend = 20 + LEGEND_LINE * diagram.legend.len() as u32 + 2;
    let height = MARGIN + TITLE + height_rows * (BOX_HEIGHT + ROW_GAP) + legend;
    let title = escape_xml(&diagram.title);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{title}</title>\n<desc>{}</desc>\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444444\"/></marker></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\">{title}</text>\n",
        escape_xml(&diagram.description),
        MARGIN + 14,
    );
    let arrows = &diagram.arrows;
    for (i, arrow) in arrows.iter().enumerate() {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (
            placed.get(arrow.from.as_str()),
            placed.get(arrow.to.as_str()),
        ) else {
            continue;
        };
        let style = arrow.line.style();
        // Arrows between the same two boxes are drawn side by side, each
        // with its label above it.
        let parallel = |a: &&Arrow| a.from == arrow.from && a.to == arrow.to;
        let before = arrows[..i].iter().filter(parallel).count() as i64;
        let all = arrows.iter().filter(parallel).count() as i64;
        let shift =
            |y: u32| (i64::from(y) + PARALLEL * (2 * before - (all - 1)) / 2) as u32;
        let offset = 12 * before as u32;
        let (x1, y1) = (fx + BOX_WIDTH, shift(fy + BOX_HEIGHT / 2));
        let (x2, y2) = (tx, shift(ty + BOX_HEIGHT / 2));
        if x2 > x1 {
            let _ = writeln!(
                svg,
                "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#444444\"{style} \
                 marker-end=\"url(#arrow)\"/>"
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\"{HALO}>{}</text>",
                (x1 + x2) / 2,
                (y1 + y2) / 2 - 5,
                escape_xml(&arrow.label)
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
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\"{HALO}>{}</text>",
                (sx + ex) / 2 + 24,
                low - 2 + offset,
                escape_xml(&arrow.label)
            );
        }
    }
    for (name, (x, y)) in &placed {
        let grey = diagram.boxes.get(*name).copied().unwrap_or(false);
        let fill = if grey { "#eeeeee" } else { "#e8f0fe" };
        let _ = writeln!(
            svg,
            "<g><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" \
             rx=\"6\" fill=\"{fill}\" stroke=\"#444444\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            x + BOX_WIDTH / 2,
            y + BOX_HEIGHT / 2 + 4,
            escape_xml(name)
        );
    }
    let legend_y = height - legend + 20;
    for (i, (line, meaning)) in diagram.legend.iter().enumerate() {
        let y = legend_y + i as u32 * LEGEND_LINE;
        let _ = writeln!(
            svg,
            "<line x1=\"{MARGIN}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#444444\"{}/>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            MARGIN + 40,
            line.style(),
            MARGIN + 48,
            y + 4,
            escape_xml(meaning)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Each box's column: 0 for those no arrow reaches, else one more than the
/// furthest box an arrow comes from (cycles broken at the first visit).
fn columns(names: &BTreeSet<String>, arrows: &[Arrow]) -> BTreeMap<String, usize> {
    let mut column: BTreeMap<String, usize> =
        names.iter().map(|s| (s.clone(), 0)).collect();
    // Longest path, relaxed as many times as there are boxes: enough for
    // any chain without a cycle, and a bound with one.
    for _ in 0..names.len() {
        let mut changed = false;
        for arrow in arrows.iter().filter(|a| a.from != a.to) {
            let next = column.get(&arrow.from).copied().unwrap_or(0) + 1;
            let current = column.entry(arrow.to.clone()).or_default();
            if next > *current && next < names.len() {
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
