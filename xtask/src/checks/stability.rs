//! What the pinned crates say about their own stability, quoted on the
//! ecosystem appendix. Each quote is looked up in the pinned crate's own
//! files (found through `cargo metadata`, which downloads a crate this
//! machine lacks): when an upgrade changes the words, `gen` and the
//! `generated` step fail, naming the quote to read again.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};

use crate::repo;

/// One statement of one crate, in its own words.
pub struct Statement {
    pub krate: &'static str,
    /// The file of the published crate that says it.
    pub file: &'static str,
    /// What it covers, for the table's second column.
    pub covers: &'static str,
    /// The words, on one line; the file may wrap them or put them in doc
    /// comments (`//!`).
    pub quote: &'static str,
}

/// The statements the appendix quotes, in the order of its table.
pub const STATEMENTS: &[Statement] = &[
    Statement {
        krate: "opentelemetry-otlp",
        file: "README.md",
        covers: "export over OTLP: logs and metrics stable, traces beta",
        quote: "The OTLP exporters for Logs and Metrics are stable as of 0.33.1, \
                following the 0.33.0 release-candidate period. The OTLP exporter \
                for Traces remains in beta.",
    },
    Statement {
        krate: "tracing-opentelemetry",
        file: "src/lib.rs",
        covers: "`tracing` spans as OpenTelemetry spans",
        quote: "some breaking changes will still occur in this crate as well. \
                Metrics are not yet fully stable.",
    },
    Statement {
        krate: "opentelemetry-appender-tracing",
        file: "src/lib.rs",
        covers: "`tracing` events as OpenTelemetry log records: no level stated",
        quote: "## Stability Guarantees // TODO",
    },
    Statement {
        krate: "opentelemetry-appender-tracing",
        file: "CHANGELOG.md",
        covers: "every `experimental_*` feature of the OpenTelemetry crates",
        quote: "As with all `experimental_*` features in this repo, the API may \
                change without a major version bump until it is stabilized",
    },
    Statement {
        krate: "opentelemetry",
        file: "README.md",
        covers: "the minimum Rust version, for every OpenTelemetry crate",
        quote: "Increasing the minimum supported compiler version is not \
                considered a semver breaking change as long as doing so complies \
                with this policy.",
    },
    Statement {
        krate: "tracing-opentelemetry",
        file: "README.md",
        covers: "its version against the OpenTelemetry crates'",
        quote: "version numbers for this crate are **not** synchronized with the \
                various OpenTelemetry crates",
    },
];

/// The appendix's section: the verdict, the table of quotes (each found in
/// its pinned crate), and what they mean for an upgrade.
pub fn section(pins: &BTreeMap<String, String>) -> Result<String> {
    let mut packages = Vec::new();
    for statement in STATEMENTS {
        let version = pins.get(statement.krate).with_context(|| {
            format!("{} is quoted but not in the pin table", statement.krate)
        })?;
        packages.push((statement.krate, version.as_str()));
    }
    let dirs = repo::package_dirs(&packages)?;
    let mut rows = String::new();
    for ((statement, (_, version)), dir) in
        STATEMENTS.iter().zip(&packages).zip(dirs)
    {
        let path = dir.join(statement.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        check(statement, version, &text)?;
        rows += &format!(
            "| `{}` {version} | {} | “{}” (`{}`) |\n",
            statement.krate,
            statement.covers,
            one_line(statement.quote),
            statement.file,
        );
    }
    Ok(format!(
        "## What upstream calls stable\n\n\
         Export of logs and metrics is declared stable in the pinned release;\n\
         traces are beta, and every crate is still 0.x. Each crate's own words,\n\
         in the version the book pins:\n\n\
         | crate | about | its words (file) |\n|---|---|---|\n\
         {rows}\n\
         The API and SDK crates (`opentelemetry`, `opentelemetry_sdk`) state no\n\
         level in their published files. For an upgrade policy, that means:\n\n\
         - Treat every 0.x minor release as breaking. Pin exact versions, as\n  \
         this book does (`=0.33.1`), and move the compatibility line in one\n  \
         change. The [upgrade notes](upgrade.md) show what broke, release by\n  \
         release.\n\
         - Turn on an `experimental_*` feature only where you accept that it\n  \
         may change in any release.\n\
         - Expect a new release to raise the minimum Rust version. The\n  \
         OpenTelemetry crates support the current stable Rust and the three\n  \
         minor versions before it, and do not count a raise within that as\n  \
         breaking.\n\n"
    ))
}

/// `Err` unless `text` holds the statement's words.
fn check(statement: &Statement, version: &str, text: &str) -> Result<()> {
    if !one_line(&prose(text)).contains(&one_line(statement.quote)) {
        bail!(
            "{} {version}'s {} no longer says “{}”: read what it says now, and \
             update the quote in xtask/src/checks/stability.rs",
            statement.krate,
            statement.file,
            one_line(statement.quote),
        );
    }
    Ok(())
}

/// The text of a file with the `//!` and `///` markers of doc comments
/// taken off each line.
fn prose(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.trim_start();
            line.strip_prefix("//!")
                .or_else(|| line.strip_prefix("///"))
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every run of whitespace as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTLP: &Statement = &STATEMENTS[0];

    #[test]
    fn a_quote_is_found_across_wrapped_lines_and_doc_comments() {
        let readme = "### Stability\n\nThe OTLP exporters for Logs and Metrics are \
                      stable as of 0.33.1, following the\n0.33.0 release-candidate \
                      period. The OTLP exporter for Traces remains in beta.\n";
        check(OTLP, "0.33.1", readme).unwrap();
        let lib = readme
            .lines()
            .map(|l| format!("//! {l}\n"))
            .collect::<String>();
        check(OTLP, "0.33.1", &lib).unwrap();
    }

    #[test]
    fn changed_words_are_an_error_naming_the_quote() {
        let readme = "The OTLP exporters for Logs and Metrics are stable as of \
                      0.34.0. The OTLP exporter for Traces is stable.";
        let error = check(OTLP, "0.34.0", readme).unwrap_err().to_string();
        assert!(
            error.contains("opentelemetry-otlp 0.34.0's README.md"),
            "{error}"
        );
        assert!(error.contains("stability.rs"), "{error}");
    }

    #[test]
    fn every_quoted_crate_is_pinned() {
        let pins = crate::checks::pins::table().unwrap();
        for statement in STATEMENTS {
            assert!(pins.contains_key(statement.krate), "{}", statement.krate);
        }
    }
}
