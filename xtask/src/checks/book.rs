//! The mdBook: where snapshots go, and building it with a pinned `mdbook`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::repo;
use crate::tools::CargoTool;

/// The `mdbook` release the book is built with, installed on first use.
pub const MDBOOK_VERSION: &str = "0.5.4";

pub mod pages;

/// The pinned `mdbook`, installed into `target/tools` when missing.
pub fn mdbook() -> Result<PathBuf> {
    mdbook_tool().install()
}

/// The pinned `mdbook`, not installed yet.
pub fn mdbook_tool() -> CargoTool {
    CargoTool {
        krate: "mdbook",
        version: std::borrow::Cow::Borrowed(MDBOOK_VERSION),
        binary: "mdbook",
        locked: true,
        features: &[],
        default_features: true,
        // A debug build: it builds the book in seconds all the same, and
        // compiles in a fraction of an optimised build's time.
        release: false,
    }
}

/// Builds the book into `target/book`.
pub fn build() -> Result<()> {
    let mdbook = mdbook()?;
    let out = repo::target_dir().join("book");
    let status = Command::new(&mdbook)
        .arg("build")
        .arg(repo::root().join("book"))
        .arg("--dest-dir")
        .arg(&out)
        .status()
        .with_context(|| format!("cannot run {}", mdbook.display()))?;
    if !status.success() {
        bail!("mdbook build failed ({status})");
    }
    let broken = broken_links(&out)?;
    if !broken.is_empty() {
        bail!(
            "{} broken link(s) in the book:\n  {}",
            broken.len(),
            broken.join("\n  ")
        );
    }
    println!(
        "book written to {} (links checked)",
        out.join("index.html").display()
    );
    Ok(())
}

/// Serves the book with live reload (mdBook's own server) until Ctrl-C.
pub fn serve(port: u16) -> Result<()> {
    let mdbook = mdbook()?;
    println!("serving on http://127.0.0.1:{port} (live reload; Ctrl-C to stop)");
    let status = Command::new(&mdbook)
        .arg("serve")
        .arg(repo::root().join("book"))
        .args([
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--dest-dir",
        ])
        .arg(repo::target_dir().join("book-serve"))
        .status()
        .with_context(|| format!("cannot run {}", mdbook.display()))?;
    if !status.success() {
        bail!("mdbook serve stopped ({status})");
    }
    Ok(())
}

/// Every relative link and `#fragment` in the built HTML that does not resolve.
pub fn broken_links(out: &std::path::Path) -> Result<Vec<String>> {
    let mut pages = Vec::new();
    collect_html(out, &mut pages)?;
    let mut broken = Vec::new();
    for page in &pages {
        // The print page repeats every chapter with rewritten links.
        if page
            .file_name()
            .is_some_and(|n| n == "print.html" || n == "404.html")
        {
            continue;
        }
        let html = std::fs::read_to_string(page)?;
        for href in attribute_values(&html, "href") {
            if has_scheme(href) {
                continue;
            }
            let (path, fragment) = match href.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (href, None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(out).join(path)
            };
            let shown = page.strip_prefix(out).unwrap_or(page).display().to_string();
            if !target.exists() {
                broken.push(format!("{shown}: link to {href}: no such file"));
                continue;
            }
            if let Some(fragment) = fragment.filter(|f| !f.is_empty())
                && target.extension().is_some_and(|e| e == "html")
            {
                let text = std::fs::read_to_string(&target)?;
                if !attribute_values(&text, "id").contains(&fragment) {
                    broken.push(format!(
                        "{shown}: link to {href}: no element with id {fragment:?}"
                    ));
                }
            }
        }
    }
    broken.sort();
    broken.dedup();
    Ok(broken)
}

fn collect_html(dir: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in walkdir::WalkDir::new(dir) {
        let path = entry?.into_path();
        if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
    Ok(())
}

/// Values of `name="..."` attributes (mdBook writes double quotes).
/// `https:`, `mailto:`, `data:`...: not a file of the book.
fn has_scheme(href: &str) -> bool {
    href.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    })
}

fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(needle.as_str())
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_missing_pages_and_fragments() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::create_dir_all(dir.join("part")).unwrap();
        std::fs::write(dir.join("index.html"), r##"<a href="part/a.html#here">x</a> <a href="part/a.html#gone">y</a> <a href="missing.html">z</a> <a href="https://example.org/x">w</a> <link href="data:,"> <h2 id="top"></h2><a href="#top">t</a>"##).unwrap();
        std::fs::write(
            dir.join("part/a.html"),
            r#"<h2 id="here">Here</h2><a href="../index.html">up</a>"#,
        )
        .unwrap();
        let broken = broken_links(dir).unwrap();
        assert_eq!(
            broken,
            [
                "index.html: link to missing.html: no such file",
                "index.html: link to part/a.html#gone: no element with id \"gone\"",
            ]
        );
    }
}
