//! The reader's shape of a chapter (DESIGN.md's book rules): a chapter that
//! shows an example has "Add it to your service" first, the lesson, "In
//! short", and last "How this chapter is verified", folded in a
//! `<details>`. Every chapter's lesson (what comes before that folded
//! proof) reads at [`MEAN_WORDS`] words a sentence or fewer, with fewer than
//! one sentence in [`LONG_SHARE`] over [`LONG_WORDS`] words, shows at most
//! [`CODE_LINES`] lines of code, and names no commit hash.
//!
//! Chapters not reshaped yet are listed in [`PENDING`]; a listed chapter
//! that meets every rule must leave the list, so the list only shrinks.
//! `cargo xtask prose` prints every chapter's measures.
//!
//! How things are counted: prose is the text of paragraphs and list items
//! (not headings, tables, code or HTML), inline code counting as one word;
//! a sentence ends at `.`, `!` or `?` before a space or the end of its
//! paragraph (not after "e.g." or "i.e."), and a paragraph or list item
//! that ends in `:`, `;` or `,` runs on into the next (a list introduced by
//! a colon, its items separated by semicolons, is one sentence); a word is a run without spaces
//! that holds a letter or digit. Code lines are the lines of every fenced
//! block but `text` ones (trees and program output), an include counting
//! the lines it shows.

use std::path::Path;

use anyhow::{Context as _, Result};
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use regex::Regex;

use super::Problem;
use crate::repo;

/// The chapters not yet in the reader's shape.
pub const PENDING: &str = "book/reshape-pending.toml";

/// The most words a sentence may average in a chapter's lesson.
pub const MEAN_WORDS: f64 = 20.0;
/// A sentence longer than this is a long one...
pub const LONG_WORDS: usize = 40;
/// ...and fewer than one in this many may be.
pub const LONG_SHARE: usize = 20;
/// The most lines of code a chapter's lesson shows.
pub const CODE_LINES: usize = 300;

/// The headings of the shape, in their order.
pub const ADD: &str = "Add it to your service";
pub const IN_SHORT: &str = "In short";
pub const VERIFIED: &str = "How this chapter is verified";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Pending {
    /// Paths under `book/src`.
    chapters: Vec<String>,
}

/// One chapter, measured.
#[derive(Debug, Default)]
pub struct Measures {
    pub sentences: usize,
    pub words: usize,
    /// The line of each paragraph with a sentence over [`LONG_WORDS`], and
    /// that sentence's words.
    pub long: Vec<(usize, usize)>,
    /// Lines of code the lesson shows.
    pub code_lines: usize,
    /// Commit hashes in the lesson's prose, with their lines.
    pub hashes: Vec<(usize, String)>,
    /// The level-2 headings, in order, with their lines.
    pub headings: Vec<(usize, String)>,
    /// It includes a file of `examples/`.
    pub has_example: bool,
    /// "How this chapter is verified" holds a `<details>` that runs to the
    /// end of the page.
    pub folded: bool,
}

impl Measures {
    pub fn mean_words(&self) -> f64 {
        match self.sentences {
            0 => 0.0,
            n => self.words as f64 / n as f64,
        }
    }
}

/// Measures one chapter; `dir` is its directory (includes are relative to it).
pub fn measure(dir: &Path, text: &str) -> Measures {
    let lines: Vec<&str> = text.lines().collect();
    let proof_at = lines
        .iter()
        .position(|l| heading_text(l).is_some_and(|h| h == VERIFIED));
    let lesson_end = match proof_at {
        Some(line) => text
            .lines()
            .take(line)
            .map(|l| l.len() + 1)
            .sum::<usize>()
            .min(text.len()),
        None => text.len(),
    };
    let lesson = &text[..lesson_end];
    let mut measures = Measures {
        has_example: text.contains("{{#include") && text.contains("examples/"),
        ..Measures::default()
    };
    for (n, line) in lines.iter().enumerate() {
        if let Some(heading) = heading_text(line) {
            measures.headings.push((n + 1, heading.to_owned()));
        }
    }
    measures.folded = proof_at.is_some_and(|at| {
        let rest: Vec<&str> = lines[at + 1..]
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        rest.first() == Some(&"<details>") && rest.last() == Some(&"</details>")
    });
    prose(lesson, &mut measures);
    measures.code_lines = code_lines(dir, lesson);
    measures
}

/// The text of a `## ` heading line.
fn heading_text(line: &str) -> Option<&str> {
    line.strip_prefix("## ").map(str::trim)
}

/// Sentences, words and commit hashes of the prose of `text`.
fn prose(text: &str, measures: &mut Measures) {
    let hash = Regex::new(r"\b[0-9a-f]{7,40}\b").expect("a valid pattern");
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut current = String::new();
    let mut started = 0;
    // Inside a heading, a table, a code block or an image: not prose.
    let mut skipping = 0usize;
    let flush = |current: &mut String, at: usize, measures: &mut Measures| {
        for sentence in sentences(current) {
            let words = words(sentence);
            if words == 0 {
                continue;
            }
            measures.sentences += 1;
            measures.words += words;
            if words > LONG_WORDS {
                measures.long.push((at, words));
            }
        }
        current.clear();
    };
    for (event, range) in
        Parser::new_ext(text, Options::ENABLE_TABLES).into_offset_iter()
    {
        match event {
            Event::Start(
                Tag::Heading { .. } | Tag::Table(_) | Tag::CodeBlock(_),
            ) => {
                flush(&mut current, started, measures);
                skipping += 1;
            }
            Event::Start(Tag::Image { .. }) => skipping += 1,
            Event::End(
                TagEnd::Heading(_)
                | TagEnd::Table
                | TagEnd::CodeBlock
                | TagEnd::Image,
            ) => skipping = skipping.saturating_sub(1),
            // A paragraph or an item that ends in `:`, `;` or `,` runs on
            // into the next one: a list introduced by a colon, its items
            // separated by semicolons, is one sentence.
            Event::Start(Tag::Paragraph | Tag::Item) => {
                if !runs_on(&current) {
                    flush(&mut current, started, measures);
                }
                if current.trim().is_empty() {
                    started = line_of(range.start);
                }
                current.push(' ');
            }
            Event::End(TagEnd::Paragraph | TagEnd::Item) if !runs_on(&current) => {
                flush(&mut current, started, measures);
            }
            Event::Text(t) if skipping == 0 && !t.contains("{{#") => {
                for found in hash.find_iter(&t) {
                    let h = found.as_str();
                    let mixed = h.bytes().any(|b| b.is_ascii_digit())
                        && h.bytes().any(|b| b.is_ascii_alphabetic());
                    if mixed {
                        measures.hashes.push((line_of(range.start), h.to_owned()));
                    }
                }
                current.push_str(&t);
            }
            Event::Code(_) if skipping == 0 => current.push_str("code"),
            Event::SoftBreak | Event::HardBreak => current.push(' '),
            _ => {}
        }
    }
    flush(&mut current, started, measures);
}

/// Whether prose that ends here runs on into the next block.
fn runs_on(text: &str) -> bool {
    text.trim_end().ends_with([':', ';', ','])
}

/// The sentences of a paragraph.
fn sentences(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = paragraph.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ends = matches!(b, b'.' | b'!' | b'?')
            && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
        if !ends {
            continue;
        }
        let before = &paragraph[start..=i];
        if before.ends_with("e.g.") || before.ends_with("i.e.") {
            continue;
        }
        out.push(before);
        start = i + 1;
    }
    if start < paragraph.len() {
        out.push(&paragraph[start..]);
    }
    out
}

fn words(sentence: &str) -> usize {
    sentence
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Lines of the fenced blocks of `text` that are code (not `text`), an
/// include counting the lines it shows.
fn code_lines(dir: &Path, text: &str) -> usize {
    let mut total = 0;
    let mut counting = false;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                counting = !info.trim().starts_with("text");
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)) => counting = true,
            Event::End(TagEnd::CodeBlock) => counting = false,
            Event::Text(body) if counting => {
                for line in body.lines() {
                    total += match include_spec(line) {
                        Some(spec) => super::includes::included_lines(dir, spec)
                            .map_or(1, |(_, lines)| lines.len()),
                        None => 1,
                    };
                }
            }
            _ => {}
        }
    }
    total
}

/// `path:anchor` of a `{{#include path:anchor}}` line.
fn include_spec(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("{{#include ")?
        .strip_suffix("}}")
        .map(str::trim)
}

/// What keeps one chapter (`file`, as the pending list names it) out of
/// the reader's shape; empty when it is in it.
pub fn problems_of(file: &str, m: &Measures) -> Vec<Problem> {
    let at = |line: usize| format!("book/src/{file}:{line}");
    let mut problems = Vec::new();
    let mut say = |line: usize, message: String| {
        problems.push(Problem {
            at: at(line),
            message,
        })
    };
    if m.mean_words() > MEAN_WORDS {
        say(
            1,
            format!(
                "{:.1} words a sentence before the verification section (at most {MEAN_WORDS})",
                m.mean_words()
            ),
        );
    }
    if m.long.len() * LONG_SHARE >= m.sentences.max(1) && !m.long.is_empty() {
        let lines: Vec<String> = m
            .long
            .iter()
            .map(|(line, words)| format!("{line} ({words} words)"))
            .collect();
        say(
            m.long[0].0,
            format!(
                "{} of {} sentences have more than {LONG_WORDS} words (fewer than 1 in \
                 {LONG_SHARE} may): at lines {}",
                m.long.len(),
                m.sentences,
                lines.join(", ")
            ),
        );
    }
    if m.code_lines > CODE_LINES {
        say(
            1,
            format!(
                "{} lines of code before the verification section (at most \
                 {CODE_LINES}: fold the scenario, tests and listings into it, or link \
                 to the files)",
                m.code_lines
            ),
        );
    }
    for (line, hash) in &m.hashes {
        say(
            *line,
            format!(
                "commit {hash} in the lesson: provenance belongs in the verification section"
            ),
        );
    }
    let position = |name: &str| m.headings.iter().position(|(_, h)| h == name);
    if m.has_example {
        let add = position(ADD);
        let short = position(IN_SHORT);
        let verified = position(VERIFIED);
        for (found, name) in [(add, ADD), (short, IN_SHORT), (verified, VERIFIED)] {
            if found.is_none() {
                say(
                    1,
                    format!("a chapter with an example has a \"## {name}\" section"),
                );
            }
        }
        if let (Some(a), Some(s), Some(v)) = (add, short, verified) {
            if !(a < s && s < v && v + 1 == m.headings.len()) {
                say(
                    m.headings[a].0,
                    format!(
                        "the sections go \"{ADD}\", the lesson, \"{IN_SHORT}\", and \
                         \"{VERIFIED}\" last"
                    ),
                );
            }
            if a != 0 {
                say(
                    m.headings[a].0,
                    format!(
                        "\"{ADD}\" is the first section, after the opening lines"
                    ),
                );
            }
        }
        if verified.is_some() && !m.folded {
            say(
                m.headings[verified.unwrap_or_default()].0,
                format!(
                    "\"{VERIFIED}\" holds one <details> that runs to the end of the page"
                ),
            );
        }
    } else if position(IN_SHORT).is_none() {
        say(1, format!("every chapter has an \"## {IN_SHORT}\" section"));
    }
    problems
}

/// Every chapter's problems, but those of the chapters [`PENDING`] lists;
/// a listed chapter without problems, or one that does not exist, is one.
pub fn check(chapters: &[(String, String)]) -> Result<Vec<Problem>> {
    let path = repo::root().join(PENDING);
    let pending: Pending = toml::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {PENDING}"))?,
    )
    .with_context(|| format!("{PENDING} is not valid"))?;
    check_with(&repo::root().join("book/src"), chapters, &pending.chapters)
}

fn check_with(
    src: &Path,
    chapters: &[(String, String)],
    pending: &[String],
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for name in pending {
        if !chapters.iter().any(|(file, _)| chapter_name(file) == name) {
            problems.push(Problem {
                at: PENDING.to_owned(),
                message: format!("lists {name}, which is no chapter"),
            });
        }
    }
    for (file, text) in chapters {
        let name = chapter_name(file);
        if name == "SUMMARY.md" {
            continue;
        }
        let dir = src.join(name);
        let dir = dir.parent().unwrap_or(src);
        let found = problems_of(name, &measure(dir, text));
        let listed = pending.iter().any(|p| p == name);
        match (listed, found.is_empty()) {
            (true, true) => problems.push(Problem {
                at: PENDING.to_owned(),
                message: format!(
                    "{name} is in the reader's shape now: take it off the list"
                ),
            }),
            (true, false) => {}
            (false, _) => problems.extend(found),
        }
    }
    Ok(problems)
}

/// `foundations/quickstart.md` of `book/src/foundations/quickstart.md`.
fn chapter_name(file: &str) -> &str {
    file.strip_prefix("book/src/").unwrap_or(file)
}

/// `cargo xtask prose`: every chapter's measures, the pending ones marked;
/// those of another copy of the book's sources with `src` (an older
/// commit's, say: `git archive COMMIT book examples | tar -x -C DIR`).
pub fn print(src: Option<&Path>) -> Result<()> {
    let default = repo::root().join("book/src");
    let src = src.unwrap_or(&default);
    // Another copy has no pending list of ours.
    let pending: Pending = match src == default {
        true => {
            toml::from_str(&std::fs::read_to_string(repo::root().join(PENDING))?)?
        }
        false => Pending {
            chapters: Vec::new(),
        },
    };
    println!(
        "{:<44} {:>9} {:>6} {:>5} {:>6}  shape",
        "chapter", "sentences", "words/s", ">40", "code"
    );
    let (mut sentences, mut words, mut long, mut code) = (0, 0, 0, 0);
    let mut chapters: Vec<std::path::PathBuf> = walkdir::WalkDir::new(src)
        .into_iter()
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.starts_with(src.join("generated")))
        .collect();
    chapters.sort();
    for chapter in chapters {
        let name = chapter
            .strip_prefix(src)
            .unwrap_or(&chapter)
            .to_string_lossy()
            .into_owned();
        if name == "SUMMARY.md" {
            continue;
        }
        let text = std::fs::read_to_string(&chapter)?;
        let m = measure(chapter.parent().unwrap_or(src), &text);
        let state = match (
            pending.chapters.contains(&name),
            problems_of(&name, &m).len(),
        ) {
            (_, 0) => "ok".to_owned(),
            (true, n) => format!("pending ({n} problems)"),
            (false, n) => format!("{n} problems"),
        };
        println!(
            "{name:<44} {:>9} {:>6.1} {:>5} {:>6}  {state}",
            m.sentences,
            m.mean_words(),
            m.long.len(),
            m.code_lines
        );
        sentences += m.sentences;
        words += m.words;
        long += m.long.len();
        code += m.code_lines;
    }
    println!(
        "{:<44} {sentences:>9} {:>6.1} {long:>5} {code:>6}",
        "all",
        words as f64 / sentences.max(1) as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests;
