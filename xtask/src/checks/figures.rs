//! Figures in the prose: every number with a unit (`0.2 s`, `12.5 MiB`,
//! `5 %`, `0.68×`) outside code is backed. It is backed when the paragraph
//! it sits in names the command that produced it (a code span such as
//! `` `cargo xtask bench quickstart` ``), or, for a table or a list, when
//! the paragraph just before does; or when `book/figure-allowlist.toml`
//! lists it for that chapter with a reason (a default of the SDK, a setting
//! of the example, an arithmetic aside). Generated output included with
//! `{{#include}}` is not prose and is not read. Part of the `snippets` step.

use std::sync::LazyLock;

use anyhow::{Context as _, Result};
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use regex::Regex;

use super::Problem;
use crate::repo;

/// Figures allowed without a command, each with its reason.
pub const ALLOWLIST: &str = "book/figure-allowlist.toml";

/// Code spans that count as naming the command behind a figure.
const COMMANDS: &[&str] = &["cargo ", ".ci/run"];

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    #[serde(default)]
    figure: Vec<AllowedFigure>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowedFigure {
    /// The chapter, from the repository's root: `book/src/...md`.
    file: String,
    /// The figure as written, number and unit: `60 s`, `5 %`.
    figure: String,
    reason: String,
}

/// A number followed by a unit of time, size, rate or ratio. Letter units
/// need the space the book writes before them, so `503s` (responses) and
/// `5 services` are not figures.
static FIGURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?:^|[^\w.,])
        (
            ×\d[\d,.]*\d
          | ×\d
          | \d[\d,]*(?:\.\d+)?\ ?%
          | \d[\d,]*(?:\.\d+)?×
          | \d[\d,]*(?:\.\d+)?[\ \u{a0}]
            (?:ns|µs|us|ms|s|seconds?|minutes?|min|hours?|days?
              |bytes|B|[KMGT]i?B|kB|req/s|requests/s|spans/s)\b
        )",
    )
    .expect("the figure pattern is valid")
});

/// The figures of `text` (one line or more of prose), as written.
pub fn figures_in(text: &str) -> Vec<(usize, String)> {
    FIGURE
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| (m.start(), m.as_str().replace('\u{a0}', " ")))
        .collect()
}

/// Reads the allowlist; a missing file is an empty list.
pub fn allowlist() -> Result<Allowlist> {
    let path = repo::root().join(ALLOWLIST);
    if !path.exists() {
        return Ok(Allowlist::default());
    }
    toml::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("{ALLOWLIST} is not valid"))
}

/// A top-level block of a page: its kind, its figures with their lines, and
/// whether it names a command.
struct Block {
    introduces: bool,
    figures: Vec<(usize, String)>,
    names_command: bool,
}

fn blocks(text: &str) -> Vec<Block> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out: Vec<Block> = Vec::new();
    let mut depth = 0usize;
    let mut in_code = false;
    for (event, range) in
        Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES)
            .into_offset_iter()
    {
        match event {
            Event::Start(tag) => {
                if depth == 0 {
                    out.push(Block {
                        // A table's or a list's figures may be introduced
                        // by the paragraph before it.
                        introduces: matches!(tag, Tag::Table(_) | Tag::List(_)),
                        figures: Vec::new(),
                        names_command: false,
                    });
                }
                in_code |= matches!(tag, Tag::CodeBlock(_));
                depth += 1;
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                if matches!(tag, TagEnd::CodeBlock) {
                    in_code = false;
                }
            }
            Event::Code(code) => {
                if let Some(block) = out.last_mut()
                    && COMMANDS.iter().any(|c| code.starts_with(c))
                {
                    block.names_command = true;
                }
            }
            Event::Text(prose) if !in_code && !prose.contains("{{#") => {
                if let Some(block) = out.last_mut() {
                    for (at, figure) in figures_in(&prose) {
                        block.figures.push((line_of(range.start + at), figure));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The unbacked figures of one chapter (`file` as the allowlist names it);
/// marks the allowlist entries it uses in `used`.
pub fn check_chapter(
    file: &str,
    text: &str,
    allowlist: &Allowlist,
    used: &mut [bool],
    problems: &mut Vec<Problem>,
) {
    let blocks = blocks(text);
    for (i, block) in blocks.iter().enumerate() {
        let backed = block.names_command
            || (block.introduces && i > 0 && blocks[i - 1].names_command);
        if backed {
            continue;
        }
        for (line, figure) in &block.figures {
            let allowed = allowlist
                .figure
                .iter()
                .position(|a| a.file == file && a.figure == *figure);
            match allowed {
                Some(index) => used[index] = true,
                None => problems.push(Problem {
                    at: format!("{file}:{line}"),
                    message: format!(
                        "`{figure}` names no command: say in its paragraph which \
                         command measured it (`cargo xtask ...`), or list it in \
                         {ALLOWLIST} with a reason"
                    ),
                }),
            }
        }
    }
}

/// Every chapter's figures, and the allowlist itself: an entry without a
/// reason, or one that no longer matches a figure, is a problem.
pub fn check(chapters: &[(String, String)]) -> Result<Vec<Problem>> {
    let allowlist = allowlist()?;
    Ok(check_with(chapters, &allowlist))
}

fn check_with(chapters: &[(String, String)], allowlist: &Allowlist) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut used = vec![false; allowlist.figure.len()];
    for (file, text) in chapters {
        check_chapter(file, text, allowlist, &mut used, &mut problems);
    }
    for (entry, used) in allowlist.figure.iter().zip(used) {
        let at = format!("{ALLOWLIST}: `{}` in {}", entry.figure, entry.file);
        if entry.reason.trim().is_empty() {
            problems.push(Problem {
                at: at.clone(),
                message: "gives no reason".into(),
            });
        }
        if !used {
            problems.push(Problem {
                at,
                message: "matches no unbacked figure any more; remove the entry"
                    .into(),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<String> {
        figures_in(text).into_iter().map(|(_, f)| f).collect()
    }

    fn problems(text: &str, allowlist: &Allowlist) -> Vec<String> {
        check_with(&[("ch.md".into(), text.into())], allowlist)
            .into_iter()
            .map(|p| format!("{}: {}", p.at, p.message))
            .collect()
    }

    fn allow(figure: &str, reason: &str) -> Allowlist {
        Allowlist {
            figure: vec![AllowedFigure {
                file: "ch.md".into(),
                figure: figure.into(),
                reason: reason.into(),
            }],
        }
    }

    #[test]
    fn finds_numbers_with_units_and_nothing_else() {
        assert_eq!(
            found(
                "took 0.2 s, against 0.1 s; 12.5 MiB and 1,036 MB at 0.68× (×201), 5 % and 50%"
            ),
            [
                "0.2 s", "0.1 s", "12.5 MiB", "1,036 MB", "0.68×", "×201", "5 %",
                "50%"
            ]
        );
        assert_eq!(
            found("every 60\u{a0}seconds, 250 ms"),
            ["60 seconds", "250 ms"]
        );
        assert!(
            found("503s and 404s, 5 services, 2 × N calls, v0.33 s3").is_empty()
        );
    }

    #[test]
    fn a_figure_without_its_command_is_named_with_its_line() {
        let text = "# T\n\nIntro.\n\nA run takes\nabout 6 s here.\n";
        assert_eq!(
            problems(text, &Allowlist::default()),
            [format!(
                "ch.md:6: `6 s` names no command: say in its paragraph which command \
                 measured it (`cargo xtask ...`), or list it in {ALLOWLIST} with a reason"
            )]
        );
    }

    #[test]
    fn a_command_in_the_paragraph_or_before_a_table_backs_it() {
        let same =
            "A run takes 6 s, as `cargo xtask verify --only scenarios` prints.\n";
        assert!(problems(same, &Allowlist::default()).is_empty());
        let table = "Measured by `cargo xtask bench quickstart`:\n\n| mode | p50 |\n|---|---|\n| on | 0.26 ms |\n";
        assert!(problems(table, &Allowlist::default()).is_empty());
        let list = "With `cargo xtask bench polars`:\n\n- 0.3 s\n- 416 MiB\n";
        assert!(problems(list, &Allowlist::default()).is_empty());
        // A paragraph is not backed by the one before it.
        let apart = "Run `cargo xtask bench quickstart`.\n\nIt took 2 s.\n";
        assert_eq!(problems(apart, &Allowlist::default()).len(), 1);
        // A command that is not a cargo command does not back it.
        let other = "| mode | p50 |\n|---|---|\n| on `curl x` | 0.26 ms |\n";
        assert_eq!(problems(other, &Allowlist::default()).len(), 1);
    }

    #[test]
    fn code_is_not_prose() {
        let text = "Set `OTEL_BSP_SCHEDULE_DELAY=5 s`.\n\n```console\nreal 0.2 s\n```\n\n{{#include ../generated/x.txt}}\n";
        assert!(problems(text, &Allowlist::default()).is_empty());
    }

    #[test]
    fn the_allowlist_backs_a_figure_and_is_itself_checked() {
        let text = "Metrics are exported every 60 s by default.\n";
        assert!(
            problems(text, &allow("60 s", "the SDK's default interval")).is_empty()
        );
        let no_reason = problems(text, &allow("60 s", " "));
        assert_eq!(no_reason.len(), 1, "{no_reason:?}");
        assert!(no_reason[0].ends_with("gives no reason"));
        let stale = problems("Nothing here.\n", &allow("60 s", "a default"));
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].contains("matches no unbacked figure"));
    }
}
