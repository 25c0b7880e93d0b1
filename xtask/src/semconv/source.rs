//! The registry table, read from the source of the pinned
//! `opentelemetry-semantic-conventions` crate, located by `cargo metadata`.
//! The crate is generated from the conventions' YAML by Weaver; its doc
//! comments and attributes carry what the table needs: each constant's
//! name, `#[cfg(feature = "semconv_experimental")]` for what is not stable,
//! `#[deprecated(note = "{note: ..., reason: renamed, renamed_to: x}")]`
//! for what is deprecated, and, on metrics, a metadata table with the
//! instrument, the unit and the status. Types and requirement levels of
//! attributes are not in it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::registry::{CRATE, Deprecation, Entry, Kind};

/// The crate's `src/` for `version`, wherever `cargo metadata` says the
/// package is (it downloads it on a machine that has not built it yet).
pub fn crate_source(version: &str) -> Result<PathBuf> {
    let dir = crate::repo::package_dir(CRATE, version)?.join("src");
    if !dir.join("attribute.rs").is_file() {
        bail!(
            "{} has no attribute.rs: has {CRATE} changed its layout?",
            dir.display()
        );
    }
    Ok(dir)
}

/// Every attribute and metric of the crate at `src`.
pub fn read(src: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (file, kind) in [
        ("attribute.rs", Kind::Attribute),
        ("metric.rs", Kind::Metric),
    ] {
        let path = src.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        entries.extend(parse(&text, kind));
    }
    entries.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    entries.dedup_by(|a, b| a.kind == b.kind && a.name == b.name);
    Ok(entries)
}

/// The constants of one generated file: each `pub const X: &str = "name";`
/// with the doc comment and the attributes right above it.
pub fn parse(text: &str, kind: Kind) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut experimental = false;
    let mut deprecated: Option<String> = None;
    let mut in_deprecated = false;
    // rustfmt puts a long name on the line after `pub const X: &str =`.
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        match lines.last_mut() {
            Some(last)
                if last.starts_with("pub const ") && last.ends_with(": &str =") =>
            {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => lines.push(trimmed.to_owned()),
        }
    }
    for trimmed in &lines {
        let trimmed = trimmed.as_str();
        if in_deprecated {
            deprecated.get_or_insert_default().push_str(trimmed);
            in_deprecated = !trimmed.ends_with(")]");
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix("///") {
            doc.push(comment.strip_prefix(' ').unwrap_or(comment));
        } else if trimmed == "#[cfg(feature = \"semconv_experimental\")]" {
            experimental = true;
        } else if trimmed.starts_with("#[deprecated") {
            deprecated = Some(trimmed.to_owned());
            in_deprecated = !trimmed.ends_with(")]");
        } else if let Some(name) = const_value(trimmed) {
            let metadata = |label: &str| metadata(&doc, label);
            let status = match kind {
                Kind::Metric => metadata("Status:").map(|s| s.to_lowercase()),
                Kind::Attribute => None,
            };
            entries.push(Entry {
                kind,
                template: doc.iter().any(|l| l.contains(&format!("`{name}."))),
                stability: status.unwrap_or_else(|| {
                    if experimental {
                        "development"
                    } else {
                        "stable"
                    }
                    .to_owned()
                }),
                deprecated: deprecated.as_deref().map(deprecation),
                instrument: match kind {
                    Kind::Metric => metadata("Instrument:"),
                    Kind::Attribute => None,
                },
                unit: match kind {
                    Kind::Metric => metadata("Unit:"),
                    Kind::Attribute => None,
                },
                name: name.to_owned(),
            });
            doc.clear();
            experimental = false;
            deprecated = None;
        } else if trimmed.is_empty() || trimmed.starts_with("pub use") {
            doc.clear();
            experimental = false;
            deprecated = None;
        }
    }
    entries
}

/// `"name"` of `pub const X: &str = "name";`.
fn const_value(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("pub const ")?;
    let (_, value) = rest.split_once(": &str = \"")?;
    value.strip_suffix("\";")
}

/// The value of a metadata row: `| Unit: | `s` |` gives `s`.
fn metadata(doc: &[&str], label: &str) -> Option<String> {
    doc.iter().find_map(|line| {
        let rest = line.strip_prefix("| ")?.strip_prefix(label)?;
        let value = rest.split('`').nth(1)?;
        Some(value.trim().to_owned())
    })
}

/// `#[deprecated(note = "{note: Replaced by ..., reason: renamed, renamed_to: x}")]`.
fn deprecation(attribute: &str) -> Deprecation {
    let inner = attribute
        .split_once("note = \"")
        .map(|(_, rest)| rest)
        .unwrap_or(attribute);
    let inner = inner
        .trim_end_matches(")]")
        .trim_end_matches('"')
        .trim_start_matches('{')
        .trim_end_matches('}')
        .replace("\\n", " ");
    let (note, tail) = inner.rsplit_once(", reason: ").unwrap_or((&inner, ""));
    let (reason, renamed_to) = match tail.split_once(", renamed_to: ") {
        Some((reason, to)) => (reason, Some(to.trim().to_owned())),
        None => (tail, None),
    };
    Deprecation {
        reason: reason.trim().to_owned(),
        renamed_to,
        note: note
            .trim_start_matches("note: ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTRIBUTES: &str = r#"
/// The HTTP request method.
#[cfg(feature = "semconv_experimental")]
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";

/// HTTP request method.
///
/// # Examples
///
/// - `"GET"`
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";

/// Deprecated, use `http.request.method` instead.
#[cfg(feature = "semconv_experimental")]
#[deprecated(
    note = "{note: Replaced by `http.request.method`., reason: renamed, renamed_to: http.request.method}"
)]
pub const HTTP_METHOD: &str = "http.method";

/// Deprecated, no replacement at this time.
#[deprecated(note = "{note: Removed, no replacement at this time.\n, reason: obsoleted}")]
pub const OLD_THING: &str = "old.thing";

/// A name too long for one line.
pub const ASPNETCORE_IDENTITY_PASSWORD_CHECK_RESULT: &str =
    "aspnetcore.identity.password_check_result";

/// HTTP request headers, `<key>` being the normalized HTTP Header name.
///
/// - A header `Accept` SHOULD be recorded as the `http.request.header.accept` attribute.
pub const HTTP_REQUEST_HEADER: &str = "http.request.header";
"#;

    const METRICS: &str = r#"
/// ## Description
///
/// Duration of HTTP server requests
/// ## Metadata
/// | | |
/// |:-|:-
/// | Instrument: | `histogram` |
/// | Unit: | `s` |
/// | Status: | `Stable`  |
///
/// ## Attributes
/// | Name | Requirement |
/// | [`crate::attribute::HTTP_ROUTE`] | `Conditionally_required`: If and only if it's available
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
"#;

    #[test]
    fn reads_stability_deprecation_and_templates() {
        let entries = parse(ATTRIBUTES, Kind::Attribute);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "http.request.method_original",
                "http.request.method",
                "http.method",
                "old.thing",
                "aspnetcore.identity.password_check_result",
                "http.request.header"
            ]
        );
        assert_eq!(entries[0].stability, "development");
        assert_eq!(entries[1].stability, "stable");
        assert!(entries[1].deprecated.is_none() && !entries[1].template);
        let renamed = entries[2].deprecated.as_ref().unwrap();
        assert_eq!(renamed.reason, "renamed");
        assert_eq!(renamed.renamed_to.as_deref(), Some("http.request.method"));
        assert_eq!(renamed.note, "Replaced by `http.request.method`.");
        let obsoleted = entries[3].deprecated.as_ref().unwrap();
        assert_eq!(obsoleted.reason, "obsoleted");
        assert_eq!(obsoleted.renamed_to, None);
        assert_eq!(obsoleted.note, "Removed, no replacement at this time.");
        assert!(entries[5].template);
    }

    #[test]
    fn reads_a_metrics_instrument_unit_and_status() {
        let entries = parse(METRICS, Kind::Metric);
        assert_eq!(entries.len(), 1);
        let metric = &entries[0];
        assert_eq!(metric.name, "http.server.request.duration");
        assert_eq!(metric.instrument.as_deref(), Some("histogram"));
        assert_eq!(metric.unit.as_deref(), Some("s"));
        assert_eq!(metric.stability, "stable");
    }
}
