//! The overhead figures of the appendix "Performance, measured": what
//! `cargo xtask bench overhead --record` measured, kept in
//! `book/src/generated/overhead.toml` with the machine, the date and the
//! commit, and rendered from it by `cargo xtask gen` into a Markdown table
//! and an SVG chart. The record is measured; the table and the chart are
//! derived, so the generated-files check keeps them in step with it.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::repo;
use crate::text::escape_xml;

/// Where the record and its two renderings live.
pub const RECORD: &str = "book/src/generated/overhead.toml";
pub const TABLE: &str = "book/src/generated/overhead.md";
pub const CHART: &str = "book/src/generated/overhead.svg";

/// One run of the overhead bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The command line that measured it.
    pub command: String,
    pub date: String,
    pub commit: String,
    /// Cores, CPU model, kernel and system.
    pub machine: String,
    pub handler: Vec<HandlerRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerRecord {
    pub path: String,
    /// The fixed rate, requests/s.
    pub rate: u64,
    pub mode: Vec<ModeRecord>,
}

/// One mode's figures, means over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeRecord {
    pub name: String,
    /// Requests/s with wrk saturating the service's CPU.
    pub saturated_per_second: f64,
    /// Service CPU time per request at saturation, µs.
    pub saturated_cpu_us: f64,
    /// Service CPU time per request at the fixed rate, µs.
    pub cpu_us: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub sent: u64,
    pub spans: u64,
    pub spans_dropped: u64,
    pub logs: u64,
    pub logs_dropped: u64,
    /// What the SDK dropped while wrk saturated the service.
    pub saturated_spans_dropped: u64,
    pub saturated_logs_dropped: u64,
}

/// The record in the repository, if the bench has written one.
pub fn read() -> Result<Option<Record>> {
    let path = repo::root().join(RECORD);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    let record = toml::from_str(&text)
        .with_context(|| format!("{RECORD} is not an overhead record"))?;
    Ok(Some(record))
}

/// The record as the bench writes it.
pub fn to_toml(record: &Record) -> Result<String> {
    Ok(format!(
        "# Written by `cargo xtask bench overhead --record`; `cargo xtask gen`\n\
         # renders overhead.md and overhead.svg from it. Do not edit by hand.\n{}",
        toml::to_string(record)?
    ))
}

/// The tables, one per handler, with where and how they were measured.
pub fn table(record: &Record) -> String {
    let mut md = format!(
        "Measured by `{}` on {}, commit `{}`, {}.\n",
        record.command, record.machine, record.commit, record.date
    );
    for handler in &record.handler {
        let none = handler.mode.first();
        let _ = write!(
            md,
            "\n`GET {}`: saturated by wrk, then at {} requests/s by oha.\n\n\
             | mode | saturated req/s | CPU µs/req (saturated) | spans dropped (saturated) | CPU µs/req at {} req/s | × none | p50 ms | p99 ms | p99 × none | requests | spans | spans dropped | logs | logs dropped |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            handler.path, handler.rate, handler.rate
        );
        for mode in &handler.mode {
            let ratio = |value: f64, base: Option<f64>| match base {
                Some(base) if base > 0.0 => format!("{:.2}×", value / base),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.1} | {} | {:.1} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} |",
                mode.name,
                mode.saturated_per_second,
                mode.saturated_cpu_us,
                mode.saturated_spans_dropped,
                mode.cpu_us,
                ratio(mode.cpu_us, none.map(|n| n.cpu_us)),
                mode.p50_ms,
                mode.p99_ms,
                ratio(mode.p99_ms, none.map(|n| n.p99_ms)),
                mode.sent,
                mode.spans,
                mode.spans_dropped,
                mode.logs,
                mode.logs_dropped,
            );
        }
    }
    md
}

const ROW: u32 = 18;
const LABEL_WIDTH: u32 = 170;
const BAR_WIDTH: u32 = 460;
const MARGIN: u32 = 10;
/// One colour per handler, in the order of the record.
const COLOURS: &[&str] = &["#4e79a7", "#f28e2b", "#59a14f"];

/// Each mode's CPU time per request at the fixed rate, as a multiple of the
/// first mode's (no telemetry), one bar per handler, with a line at 1×.
pub fn chart(record: &Record) -> String {
    let modes: Vec<&str> = record
        .handler
        .first()
        .map(|h| h.mode.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    let ratios: Vec<Vec<f64>> = record
        .handler
        .iter()
        .map(|handler| {
            let base = handler.mode.first().map_or(0.0, |m| m.cpu_us);
            handler
                .mode
                .iter()
                .map(|m| if base > 0.0 { m.cpu_us / base } else { 0.0 })
                .collect()
        })
        .collect();
    let largest = ratios.iter().flatten().copied().fold(1.0_f64, f64::max);
    // The axis ends at the next half above the largest ratio.
    let axis = (largest * 2.0).ceil() / 2.0;
    let group = ROW * record.handler.len() as u32 + 8;
    let width = LABEL_WIDTH + BAR_WIDTH + 2 * MARGIN + 50;
    let top = MARGIN + 2 * ROW + 6;
    let height = top + group * modes.len() as u32 + 2 * ROW + MARGIN;
    let x = |ratio: f64| LABEL_WIDTH as f64 + ratio / axis * BAR_WIDTH as f64;
    let title = "Service CPU time per request, × no telemetry, at a fixed rate";
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{MARGIN}\" y=\"{}\" font-weight=\"bold\">{}</text>\n",
        escape_xml(title),
        MARGIN + 14,
        escape_xml(title)
    );
    // The legend: one swatch per handler.
    let mut legend_x = MARGIN;
    for (i, handler) in record.handler.iter().enumerate() {
        let label = format!("GET {} at {} req/s", handler.path, handler.rate);
        let _ = writeln!(
            svg,
            "<rect x=\"{legend_x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            MARGIN + ROW + 4,
            COLOURS[i % COLOURS.len()],
            legend_x + 16,
            MARGIN + ROW + 14,
            escape_xml(&label)
        );
        legend_x += 16 + 7 * label.len() as u32 + 20;
    }
    for (m, mode) in modes.iter().enumerate() {
        let y = top + group * m as u32;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 6,
            y + ROW * record.handler.len() as u32 / 2 + 4,
            escape_xml(mode)
        );
        for (h, handler_ratios) in ratios.iter().enumerate() {
            let Some(&ratio) = handler_ratios.get(m) else {
                continue;
            };
            let bar_y = y + ROW * h as u32;
            let _ = writeln!(
                svg,
                "<rect x=\"{LABEL_WIDTH}\" y=\"{bar_y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\">\
                 <title>{}: {ratio:.2}×</title></rect>\
                 <text x=\"{:.1}\" y=\"{}\">{ratio:.2}×</text>",
                x(ratio) - LABEL_WIDTH as f64,
                ROW - 3,
                COLOURS[h % COLOURS.len()],
                escape_xml(mode),
                x(ratio) + 4.0,
                bar_y + ROW - 6,
            );
        }
    }
    // The axis, with a line at 1× (no telemetry).
    let bottom = top + group * modes.len() as u32;
    let _ = writeln!(
        svg,
        "<line x1=\"{LABEL_WIDTH}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#555\"/>\n\
         <line x1=\"{:.1}\" y1=\"{top}\" x2=\"{:.1}\" y2=\"{bottom}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>",
        LABEL_WIDTH + BAR_WIDTH,
        x(1.0),
        x(1.0),
    );
    let mut tick = 0.0;
    while tick <= axis + 1e-9 {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{tick}×</text>",
            x(tick),
            bottom + ROW,
        );
        tick += if axis > 4.0 { 1.0 } else { 0.5 };
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(name: &str, cpu_us: f64, p99_ms: f64) -> ModeRecord {
        ModeRecord {
            name: name.to_owned(),
            saturated_per_second: 1e6 / cpu_us,
            saturated_cpu_us: cpu_us,
            cpu_us,
            p50_ms: p99_ms / 4.0,
            p99_ms,
            sent: 1000,
            spans: 990,
            spans_dropped: 10,
            logs: 1000,
            logs_dropped: 0,
            saturated_spans_dropped: 5,
            saturated_logs_dropped: 0,
        }
    }

    /// A handler's two modes, "none" and "all <book>", by CPU µs and p99 ms.
    fn handler(path: &str, rate: u64, modes: [(f64, f64); 2]) -> HandlerRecord {
        HandlerRecord {
            path: path.to_owned(),
            rate,
            mode: vec![
                mode("none", modes[0].0, modes[0].1),
                mode("all <book>", modes[1].0, modes[1].1),
            ],
        }
    }

    fn record() -> Record {
        Record {
            command: "cargo xtask bench overhead --record".to_owned(),
            date: "2026-11-27".to_owned(),
            commit: "abc1234".to_owned(),
            machine: "2 CPUs".to_owned(),
            handler: vec![
                handler("/hello", 10_000, [(8.0, 0.4), (20.0, 1.0)]),
                handler("/work", 2_500, [(200.0, 3.0), (212.0, 3.3)]),
            ],
        }
    }

    #[test]
    fn the_record_survives_its_file_and_refuses_unknown_fields() {
        let record = record();
        let text = to_toml(&record).unwrap();
        assert_eq!(toml::from_str::<Record>(&text).unwrap(), record);
        let extra = format!("{text}\nsurprise = 1\n");
        assert!(toml::from_str::<Record>(&extra).is_err());
    }

    #[test]
    fn the_table_gives_each_mode_as_a_multiple_of_no_telemetry() {
        let table = table(&record());
        assert!(
            table.contains("| all <book> | 50000 | 20.0 | 5 | 20.0 | 2.50× |"),
            "{table}"
        );
        assert!(
            table.contains("| none | 5000 | 200.0 | 5 | 200.0 | 1.00× |"),
            "{table}"
        );
        assert!(table.contains("1.06×"), "{table}");
        assert!(table.contains("commit `abc1234`"));
    }

    #[test]
    fn the_chart_is_well_formed_with_bars_in_proportion() {
        let svg = chart(&record());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let bars: Vec<f64> = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("rect") && n.attribute("height") == Some("15")
            })
            .map(|n| n.attribute("width").unwrap().parse().unwrap())
            .collect();
        // none and all for each handler: 1×, 1× then 2.5×, 1.06×.
        assert_eq!(bars.len(), 4, "{svg}");
        assert!((bars[2] / bars[0] - 2.5).abs() < 0.01, "{bars:?}");
        assert!((bars[3] / bars[1] - 1.06).abs() < 0.01, "{bars:?}");
        assert!(svg.contains("all &lt;book&gt;"));
    }
}
