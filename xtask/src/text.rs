//! Ground: text the xtask writes for people. Unified diffs (`similar`) of a
//! committed file against what this run made, for the snapshots and the
//! generated files alike; XML escaping for the SVGs it draws.

/// `committed` → `new` as a unified diff, headed by `name`.
pub fn unified_diff(committed: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(committed, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (committed)"),
            &format!("{name} (this run)"),
        )
        .to_string()
}

/// `text` safe inside an XML element or a double-quoted attribute.
pub fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_both_sides_and_shows_the_changed_line() {
        let diff = unified_diff("a\nb\n", "a\nc\n", "x.txt");
        assert!(diff.contains("--- x.txt (committed)"), "{diff}");
        assert!(diff.contains("+++ x.txt (this run)"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_xml(r#"<a href="x">&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
