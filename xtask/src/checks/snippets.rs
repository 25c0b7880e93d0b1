//! The book's snippet rules: every include resolves to a non-empty anchor,
//! every `rust`/`toml` fence is either an include of a compiled file or an
//! inline snippet the book crate compiles, and `ignore`/`no_run`/
//! `compile_fail` fences need a reason in the allowlist; every figure in
//! the prose names its command (`figures`); and every chapter is in the
//! reader's shape or on the way there (`shape`). Messages are `file:line`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use super::Problem;
use super::includes::{included_lines, is_anchor_line};
use crate::repo::{self, relative};
use crate::tools::{self, Outcome};

/// Fences allowed to carry `ignore`, `no_run` or `compile_fail`, with reasons.
pub const ALLOWLIST: &str = "book/fence-allowlist.toml";

const RESTRICTED: &[&str] = &["ignore", "no_run", "compile_fail", "should_panic"];

/// Columns of code the book shows without horizontal scrolling (rustfmt's
/// `max_width` is the same).
pub const CODE_WIDTH: usize = 85;

#[derive(serde::Deserialize, Default)]
struct Allowlist {
    #[serde(default)]
    fence: Vec<AllowedFence>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowedFence {
    /// `book/src/...md:LINE`-free form: the chapter path and the fence's first code line.
    file: String,
    first_line: String,
    reason: String,
}

/// Every `.md` under `book/src`, sorted, but those in `book/src/generated`:
/// output of the xtask that chapters include, not prose (its tables quote
/// figures whose command the including chapter names).
pub fn chapters() -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let generated = repo::root().join("book/src/generated");
    for entry in walkdir::WalkDir::new(repo::root().join("book/src")) {
        let path = entry?.into_path();
        if path.extension().is_some_and(|e| e == "md")
            && !path.starts_with(&generated)
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The `snippets` step: every chapter checked. Without rustfmt, the inline
/// snippets' formatting cannot be checked: the step is then a skip, which
/// `--require-all` turns into a failure.
pub fn step() -> Result<Outcome> {
    step_with(tools::on_path("rustfmt").as_deref())
}

fn step_with(rustfmt: Option<&Path>) -> Result<Outcome> {
    let problems: Vec<String> = check(rustfmt)?
        .into_iter()
        .map(|p| format!("{}: {}", p.at, p.message))
        .collect();
    super::problems("the book's snippets", problems)?;
    Ok(match rustfmt {
        Some(_) => Outcome::Passed,
        None => Outcome::Skipped(
            "rustfmt not found, so the inline snippets' formatting was not checked \
             (rustup component add rustfmt)"
                .into(),
        ),
    })
}

/// Checks every chapter; returns the problems found. `rustfmt`: the
/// formatter for inline snippets (`None`: their formatting is not checked).
pub fn check(rustfmt: Option<&Path>) -> Result<Vec<Problem>> {
    let allowlist_path = repo::root().join(ALLOWLIST);
    let allowlist: Allowlist = if allowlist_path.exists() {
        toml::from_str(&std::fs::read_to_string(&allowlist_path)?)
            .with_context(|| format!("{ALLOWLIST} is not valid"))?
    } else {
        Allowlist::default()
    };
    let mut problems = Vec::new();
    for allowed in &allowlist.fence {
        if allowed.reason.trim().is_empty() {
            problems.push(Problem {
                at: ALLOWLIST.to_owned(),
                message: format!("the entry for {} gives no reason", allowed.file),
            });
        }
    }
    let mut pages = Vec::new();
    for chapter in chapters()? {
        let text = std::fs::read_to_string(&chapter)?;
        check_chapter(&chapter, &text, &allowlist, rustfmt, &mut problems);
        pages.push((relative(&chapter), text));
    }
    problems.extend(super::figures::check(&pages)?);
    problems.extend(super::shape::check(&pages)?);
    Ok(problems)
}

/// A fenced block: its info string, the line of its opening fence, and
/// its body lines.
struct Fence<'a> {
    info: String,
    line: usize,
    body: Vec<&'a str>,
}

/// The fenced code blocks of a page, as a Markdown parser (the one mdBook
/// uses) finds them: fences inside lists, longer fences and `~~~` included.
fn fences(text: &str) -> Vec<Fence<'_>> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                open = Some((
                    info.trim().to_owned(),
                    line_of(range.start),
                    range.start,
                ));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((info, line, start)) = open.take() {
                    // The block's own lines, without its two fence lines.
                    let lines: Vec<&str> = text[start..range.end].lines().collect();
                    let body = match lines.len() {
                        0..=2 => Vec::new(),
                        n if lines[n - 1].trim_start().starts_with(['`', '~']) => {
                            lines[1..n - 1].to_vec()
                        }
                        n => lines[1..n].to_vec(),
                    };
                    out.push(Fence { info, line, body });
                }
            }
            _ => {}
        }
    }
    out
}

fn check_chapter(
    chapter: &Path,
    text: &str,
    allowlist: &Allowlist,
    rustfmt: Option<&Path>,
    problems: &mut Vec<Problem>,
) {
    let file = relative(chapter);
    let dir = chapter.parent().unwrap_or(Path::new("."));
    // Includes anywhere in the page.
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{#include ") {
            let after = &rest[start + "{{#include ".len()..];
            let Some(end) = after.find("}}") else { break };
            if let Err(message) = check_include(dir, after[..end].trim()) {
                problems.push(Problem {
                    at: format!("{file}:{}", i + 1),
                    message,
                });
            }
            rest = &after[end..];
        }
    }
    for fence in fences(text) {
        let mut parts = fence.info.split(',').map(str::trim);
        let language = parts.next().unwrap_or("");
        if language != "rust" && language != "toml" {
            continue;
        }
        let at = format!("{file}:{}", fence.line);
        let attributes: Vec<&str> = parts.collect();
        let included =
            fence.body.len() == 1 && fence.body[0].trim().starts_with("{{#include ");
        let first_line = fence.body.first().map(|l| l.trim()).unwrap_or("");
        for attribute in &attributes {
            if RESTRICTED.contains(attribute)
                && !allowlist
                    .fence
                    .iter()
                    .any(|a| a.file == file && a.first_line == first_line)
            {
                problems.push(Problem {
                    at: at.clone(),
                    message: format!(
                        "a `{language},{attribute}` fence is not compiled and run as written; \
                         make it compile, or list it in {ALLOWLIST} with a reason"
                    ),
                });
            }
        }
        if language == "toml" && !included {
            problems.push(Problem {
                at,
                message: "an inline ```toml fence can drift from the real manifest; include it \
                          from the compiled file with {{#include path:anchor}}"
                    .to_owned(),
            });
        } else if language == "rust"
            && !included
            && fence.body.iter().any(|l| l.contains("{{#"))
        {
            problems.push(Problem {
                at,
                message: "a ```rust fence mixes an include with inline code; keep includes alone"
                    .to_owned(),
            });
        }
        // Inline ```rust fences are compiled by the book crate's skeptic tests.
        check_width(&file, dir, &fence, included, problems);
        if language == "rust"
            && !included
            && let Some(rustfmt) = rustfmt
            && let Some(message) = unformatted(rustfmt, &fence.body)
        {
            problems.push(Problem {
                at: format!("{file}:{}", fence.line),
                message,
            });
        }
    }
}

/// Code a reader has to scroll sideways to read is code they do not read:
/// every line of a ```rust or ```toml fence, inline or included, fits in
/// [`CODE_WIDTH`]. The message points at the line to change.
fn check_width(
    file: &str,
    dir: &Path,
    fence: &Fence<'_>,
    included: bool,
    problems: &mut Vec<Problem>,
) {
    let wide = |line: &str| line.chars().count() > CODE_WIDTH;
    if !included {
        for (i, line) in fence.body.iter().enumerate() {
            if wide(line) {
                problems.push(Problem {
                    at: format!("{file}:{}", fence.line + 1 + i),
                    message: format!(
                        "{} columns; the book shows {CODE_WIDTH} without scrolling",
                        line.chars().count()
                    ),
                });
            }
        }
        return;
    }
    let spec = fence.body[0]
        .trim()
        .trim_start_matches("{{#include ")
        .trim_end_matches("}}")
        .trim();
    let Some((target, lines)) = included_lines(dir, spec) else {
        return; // reported by check_include
    };
    for (number, line) in lines {
        if wide(&line) {
            problems.push(Problem {
                at: format!("{}:{number}", relative(&target)),
                message: format!(
                    "{} columns, shown by {file}:{}; the book shows {CODE_WIDTH} without scrolling",
                    line.chars().count(),
                    fence.line + 1
                ),
            });
        }
    }
}

/// Inline snippets are formatted as the repository's code is (rustfmt with
/// `rustfmt.toml`), so they read like the included code around them. Says
/// where the first difference is; `None` when formatted, or when rustfmt
/// cannot parse the snippet (the skeptic test reports that better).
fn unformatted(rustfmt: &Path, body: &[&str]) -> Option<String> {
    use std::io::Write as _;
    let source = format!("{}\n", body.join("\n"));
    let config = repo::root().join("rustfmt.toml");
    let mut child = std::process::Command::new(rustfmt)
        .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(source.as_bytes()).ok()?;
    let output = child.wait_with_output().ok()?;
    if !output.status.success() {
        return None;
    }
    let formatted = String::from_utf8_lossy(&output.stdout);
    if formatted == source {
        return None;
    }
    let (n, (want, have)) = formatted
        .lines()
        .zip(source.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .unwrap_or((0, ("", "")));
    Some(format!(
        "the snippet is not formatted as rustfmt would (rustfmt.toml); \
         its line {}:\n      have: {have}\n      want: {want}",
        n + 1
    ))
}

/// `path` or `path:anchor` (mdBook also allows line ranges, which drift: refused).
fn check_include(dir: &Path, spec: &str) -> Result<(), String> {
    let (path, anchor) = match spec.rsplit_once(':') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (spec, None),
    };
    let target = dir.join(path);
    let text = std::fs::read_to_string(&target).map_err(|_| {
        format!(
            "{{{{#include {spec}}}}}: {} does not exist",
            relative(&target)
        )
    })?;
    let Some(anchor) = anchor else {
        return Ok(());
    };
    if anchor.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{{{{#include {spec}}}}}: line numbers drift when the file changes; \
             add `ANCHOR: name` / `ANCHOR_END: name` comments and include by name"
        ));
    }
    let start = format!("ANCHOR: {anchor}");
    let end = format!("ANCHOR_END: {anchor}");
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines.iter().position(|l| is_anchor_line(l, &start));
    let finish = lines.iter().position(|l| is_anchor_line(l, &end));
    match (begin, finish) {
        (Some(b), Some(f)) if f > b + 1 => {
            let body = &lines[b + 1..f];
            if body
                .iter()
                .all(|l| l.trim().is_empty() || l.contains("ANCHOR"))
            {
                Err(format!(
                    "{{{{#include {spec}}}}}: anchor `{anchor}` is empty"
                ))
            } else {
                Ok(())
            }
        }
        (Some(_), Some(_)) => Err(format!(
            "{{{{#include {spec}}}}}: anchor `{anchor}` is empty"
        )),
        _ => Err(format!(
            "{{{{#include {spec}}}}}: {} has no anchor `{anchor}` (ANCHOR: / ANCHOR_END: pair)",
            relative(&target)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Problems of `text` as a chapter in a directory of its own (removed
    /// afterwards), beside a `code.rs` with a good and an empty anchor.
    fn problems_in(text: &str, allowlist: &Allowlist) -> Vec<String> {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: good\nfn good() {}\n// ANCHOR_END: good\n// ANCHOR: empty\n// ANCHOR_END: empty\n",
        )
        .unwrap();
        let chapter = dir.join("chapter.md");
        let mut problems = Vec::new();
        let rustfmt = tools::on_path("rustfmt").expect("rustfmt is installed");
        check_chapter(&chapter, text, allowlist, Some(&rustfmt), &mut problems);
        problems
            .into_iter()
            .map(|p| format!("{}: {}", p.at.rsplit('/').next().unwrap(), p.message))
            .collect()
    }

    #[test]
    fn accepts_includes_of_real_anchors_and_plain_inline_rust() {
        let text = "# T\n\n```rust\n{{#include code.rs:good}}\n```\n\n```rust\nlet x = 1;\n```\n\n```console\n$ ls\n```\n";
        assert_eq!(
            problems_in(text, &Allowlist::default()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_file_and_line_of_every_broken_rule() {
        let text = "# T\n```rust\n{{#include code.rs:missing}}\n```\n```rust\n{{#include code.rs:empty}}\n```\n```rust,ignore\nfn x() {}\n```\n```toml\n[dependencies]\n```\n```rust\n{{#include nowhere.rs}}\n```\n";
        let problems = problems_in(text, &Allowlist::default());
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(
            problems[0].starts_with("chapter.md:3: {{#include code.rs:missing}}: ")
        );
        assert!(problems[0].contains("has no anchor `missing`"));
        assert!(
            problems[1].starts_with("chapter.md:6:")
                && problems[1].contains("is empty")
        );
        assert!(
            problems[2].starts_with("chapter.md:15:")
                && problems[2].contains("does not exist")
        );
        assert!(
            problems[3].starts_with("chapter.md:8:")
                && problems[3].contains("`rust,ignore`")
        );
        assert!(
            problems[4].starts_with("chapter.md:11:")
                && problems[4].contains("inline ```toml")
        );
    }

    #[test]
    fn a_wide_line_is_named_where_it_is_written() {
        let wide = format!("let x = \"{}\";", "a".repeat(CODE_WIDTH));
        let text = format!("# T\n\n```rust\nfn main() {{}}\n{wide}\n```\n");
        let problems = problems_in(&text, &Allowlist::default());
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("chapter.md:5: "), "{problems:?}");
        assert!(problems[0].contains(&format!("{} columns", CODE_WIDTH + 11)));
    }

    #[test]
    fn an_unformatted_snippet_is_named() {
        let text = "# T\n\n```rust\nfn main() {  let x=1; }\n```\n";
        let problems = problems_in(text, &Allowlist::default());
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with("chapter.md:3: the snippet is not formatted")
        );
        assert!(problems[0].contains("have: fn main() {  let x=1; }"));
    }

    #[test]
    fn an_allowlisted_fence_with_a_reason_passes() {
        let text = "```rust,no_run\nfn main() {\n    loop {}\n}\n```\n";
        // Matched by the chapter's path and the fence's first line.
        let mut problems = Vec::new();
        let chapter = Path::new("/nowhere/chapter.md");
        let allowlist = Allowlist {
            fence: vec![AllowedFence {
                file: relative(chapter),
                first_line: "fn main() {".into(),
                reason: "runs forever".into(),
            }],
        };
        check_chapter(chapter, text, &allowlist, None, &mut problems);
        assert!(problems.is_empty());
    }

    #[test]
    fn fences_are_found_as_markdown_finds_them() {
        let text = "# T\n\n- a list item:\n\n  ```rust\n  let x = 1;\n  ```\n\n\
                    ````toml\n[a]\n```\nstill inside\n````\n\n~~~rust,ignore\nfn f() {}\n~~~\n";
        let found = fences(text);
        let infos: Vec<&str> = found.iter().map(|f| f.info.as_str()).collect();
        assert_eq!(infos, ["rust", "toml", "rust,ignore"]);
        assert_eq!(found[0].line, 5);
        assert_eq!(found[0].body, ["  let x = 1;"]);
        assert_eq!(found[1].body, ["[a]", "```", "still inside"]);
        assert_eq!(found[2].line, 15);
    }

    #[test]
    fn without_rustfmt_the_step_is_a_skip_not_a_pass() {
        let outcome = step_with(None).unwrap();
        assert!(
            matches!(&outcome, Outcome::Skipped(why) if why.contains("rustfmt")),
            "{outcome:?}"
        );
    }
}
