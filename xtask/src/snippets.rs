//! The book's snippet rules: every include resolves to a non-empty anchor,
//! every `rust`/`toml` fence is either an include of a compiled file or an
//! inline snippet the book crate compiles, and `ignore`/`no_run`/
//! `compile_fail` fences need a reason in the allowlist. Messages are `file:line`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::workspace::{self, relative};

/// Fences allowed to carry `ignore`, `no_run` or `compile_fail`, with reasons.
pub const ALLOWLIST: &str = "book/fence-allowlist.toml";

const RESTRICTED: &[&str] = &["ignore", "no_run", "compile_fail", "should_panic"];

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

/// One problem, with where it is.
pub struct Problem {
    pub at: String,
    pub message: String,
}

/// Every `.md` under `book/src`, sorted.
pub fn chapters() -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect(&workspace::root().join("book/src"), &mut out)?;
    out.sort();
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks every chapter; returns the problems found.
pub fn check() -> Result<Vec<Problem>> {
    let allowlist_path = workspace::root().join(ALLOWLIST);
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
    for chapter in chapters()? {
        let text = std::fs::read_to_string(&chapter)?;
        check_chapter(&chapter, &text, &allowlist, &mut problems);
    }
    Ok(problems)
}

/// A fenced block: its info string, first line number, and body lines.
struct Fence<'a> {
    info: &'a str,
    line: usize,
    body: Vec<&'a str>,
}

fn fences(text: &str) -> Vec<Fence<'_>> {
    let mut out = Vec::new();
    let mut current: Option<Fence> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    current = Some(Fence {
                        info: info.trim(),
                        line: i + 1,
                        body: Vec::new(),
                    });
                }
            }
            Some(fence) => {
                if trimmed.starts_with("```") {
                    out.push(current.take().expect("a fence is open"));
                } else {
                    fence.body.push(line);
                }
            }
        }
    }
    out
}

fn check_chapter(
    chapter: &Path,
    text: &str,
    allowlist: &Allowlist,
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
    }
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

fn is_anchor_line(line: &str, marker: &str) -> bool {
    line.trim_end().ends_with(marker)
        && line.find(marker).is_some_and(|i| {
            let before = line[..i].trim();
            before == "//" || before == "#" || before == "<!--" || before.is_empty()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_in(text: &str, allowlist: &Allowlist) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("snippets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: good\nfn good() {}\n// ANCHOR_END: good\n// ANCHOR: empty\n// ANCHOR_END: empty\n",
        )
        .unwrap();
        let chapter = dir.join("chapter.md");
        let mut problems = Vec::new();
        check_chapter(&chapter, text, allowlist, &mut problems);
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
        assert!(problems[0].starts_with("chapter.md:3: {{#include code.rs:missing}}: "));
        assert!(problems[0].contains("has no anchor `missing`"));
        assert!(
            problems[1].starts_with("chapter.md:6:") && problems[1].contains("is empty")
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
    fn an_allowlisted_fence_with_a_reason_passes() {
        let text = "```rust,no_run\nfn main() { loop {} }\n```\n";
        let dir = std::env::temp_dir().join(format!("snippets-{}", std::process::id()));
        let allowlist = Allowlist {
            fence: vec![AllowedFence {
                file: relative(&dir.join("chapter.md")),
                first_line: "fn main() { loop {} }".into(),
                reason: "runs forever".into(),
            }],
        };
        assert_eq!(problems_in(text, &allowlist), Vec::<String>::new());
    }
}
