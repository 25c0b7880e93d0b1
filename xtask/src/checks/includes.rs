//! What an mdBook `{{#include path:anchor}}` shows: the lines between the
//! anchor's markers, without the marker lines. Read by the `snippets`
//! rules and by the chapter-shape measures.

use std::path::{Path, PathBuf};

/// The lines an include shows, with their line numbers in the target file
/// (anchor marker lines, which mdBook drops, left out).
pub fn included_lines(
    dir: &Path,
    spec: &str,
) -> Option<(PathBuf, Vec<(usize, String)>)> {
    let (path, anchor) = match spec.rsplit_once(':') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (spec, None),
    };
    let target = normalise(&dir.join(path));
    let text = std::fs::read_to_string(&target).ok()?;
    let numbered = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let lines: Vec<(usize, String)> = match anchor {
        None => numbered
            .filter(|(_, l)| !l.contains("ANCHOR"))
            .map(|(n, l)| (n, l.to_owned()))
            .collect(),
        Some(anchor) => {
            let start = format!("ANCHOR: {anchor}");
            let end = format!("ANCHOR_END: {anchor}");
            numbered
                .skip_while(|(_, l)| !is_anchor_line(l, &start))
                .skip(1)
                .take_while(|(_, l)| !is_anchor_line(l, &end))
                .filter(|(_, l)| !l.contains("ANCHOR"))
                .map(|(n, l)| (n, l.to_owned()))
                .collect()
        }
    };
    Some((target, lines))
}

/// `a/b/../c` as `a/c`, without touching the file system.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether `line` is an mdBook anchor marker (`// ANCHOR: name`, `# ANCHOR:`
/// in TOML, `<!-- ANCHOR: -->`), not a line that mentions one.
pub fn is_anchor_line(line: &str, marker: &str) -> bool {
    line.trim_end().ends_with(marker)
        && line.find(marker).is_some_and(|i| {
            let before = line[..i].trim();
            before == "//" || before == "#" || before == "<!--" || before.is_empty()
        })
}
