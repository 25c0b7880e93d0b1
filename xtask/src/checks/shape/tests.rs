use super::*;

/// A chapter in the reader's shape, with an example.
const GOOD: &str = "# Retry

What it builds. It stands on the quickstart.

## Add it to your service

Copy `src/retry.rs`. Wire it in with three lines.

{{#include ../../../examples/retry/src/lib.rs:policy}}

## The lesson

A retry waits before it tries again. The wait grows each time.

## In short

- Retry what is safe to retry.

## How this chapter is verified

<details>
<summary>The scenario, the tests and the measurements</summary>

The scenario asserts it at commit 0123abc.

</details>
";

fn problems(text: &str) -> Vec<String> {
    let m = measure(Path::new("/nonexistent"), text);
    problems_of("patterns/retry.md", &m)
        .into_iter()
        .map(|p| format!("{}: {}", p.at, p.message))
        .collect()
}

#[test]
fn a_chapter_in_the_shape_passes() {
    assert_eq!(problems(GOOD), Vec::<String>::new());
    let m = measure(Path::new("/nonexistent"), GOOD);
    assert!(m.has_example && m.folded);
    // The proof's commit is not the lesson's.
    assert!(m.hashes.is_empty());
}

#[test]
fn each_missing_or_misplaced_section_is_named() {
    let without = GOOD.replace("## In short", "## Summary");
    let found = problems(&without);
    assert!(
        found.iter().any(|p| p.contains("\"## In short\"")),
        "{found:?}"
    );

    let late = GOOD
        .replace("## Add it to your service\n", "## Later\n")
        .replace(
            "## In short",
            "## Add it to your service\n\nx.\n\n## In short",
        );
    let found = problems(&late);
    assert!(
        found.iter().any(|p| p.contains("is the first section")),
        "{found:?}"
    );

    let unfolded = GOOD.replace("<details>\n", "").replace("</details>\n", "");
    let found = problems(&unfolded);
    assert!(
        found.iter().any(|p| p.contains("holds one <details>")),
        "{found:?}"
    );

    let after = format!("{GOOD}\n## Further reading\n\nMore.\n");
    let found = problems(&after);
    assert!(found.iter().any(|p| p.contains("last")), "{found:?}");
}

#[test]
fn long_sentences_and_a_high_mean_fail() {
    let long = format!("{} end.", "word ".repeat(45));
    let text = GOOD.replace("The wait grows each time.", &long);
    let found = problems(&text);
    assert!(
        found
            .iter()
            .any(|p| p.contains("more than 40 words") && p.contains("(46 words)")),
        "{found:?}"
    );
    // One long sentence among short ones: the share fails, not the mean.
    assert!(
        !found.iter().any(|p| p.contains("words a sentence")),
        "{found:?}"
    );
    let wordy = format!("{} end. ", "word ".repeat(38)).repeat(10);
    let found = problems(&GOOD.replace("The wait grows each time.", &wordy));
    assert!(
        found.iter().any(|p| p.contains("words a sentence before")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|p| p.contains("more than 40")),
        "{found:?}"
    );
}

#[test]
fn a_commit_in_the_lesson_and_too_much_code_fail() {
    let text = GOOD.replace("It stands on", "Measured at 88103b5, it stands on");
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.contains(":3: commit 88103b5")),
        "{found:?}"
    );
    let code = format!("```rust\n{}```\n", "let x = 1;\n".repeat(301));
    let text = GOOD.replace("## In short", &format!("{code}\n## In short"));
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.contains("301 lines of code")),
        "{found:?}"
    );
    // Program output is not code.
    let output = format!("```text\n{}```\n", "a line\n".repeat(301));
    assert!(
        problems(&GOOD.replace("## In short", &format!("{output}\n## In short")))
            .is_empty()
    );
}

#[test]
fn a_chapter_without_an_example_needs_only_a_summary() {
    let text = "# Glossary\n\nWords we use.\n\n## In short\n\n- Read it.\n";
    assert!(problems(text).is_empty());
    let found = problems("# Glossary\n\nWords we use.\n");
    assert!(found.iter().any(|p| p.contains("In short")), "{found:?}");
}

#[test]
fn sentences_end_at_stops_not_at_abbreviations_or_versions() {
    assert_eq!(
        sentences("Use 0.33, e.g. the SDK. Then stop! Why? Because."),
        vec![
            "Use 0.33, e.g. the SDK.",
            " Then stop!",
            " Why?",
            " Because."
        ]
    );
    assert_eq!(words("a `code` - b"), 3);
}

#[test]
fn the_pending_list_only_shrinks() {
    let bad = "# Old\n\nNo summary here.\n".to_owned();
    let chapters = vec![
        ("book/src/patterns/retry.md".to_owned(), GOOD.to_owned()),
        ("book/src/patterns/old.md".to_owned(), bad),
    ];
    let src = Path::new("/nonexistent/book/src");
    // Listed and failing: skipped.
    let found = check_with(src, &chapters, &["patterns/old.md".into()]).unwrap();
    assert!(found.is_empty(), "{found:?}");
    // Not listed and failing: a problem.
    let found = check_with(src, &chapters, &[]).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    // Listed and passing, or listed and absent: a problem each.
    let listed = [
        "patterns/retry.md".into(),
        "patterns/old.md".into(),
        "gone.md".into(),
    ];
    let found = check_with(src, &chapters, &listed).unwrap();
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("take it off the list")));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("gone.md, which is no chapter"))
    );
}
