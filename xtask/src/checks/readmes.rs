//! Every example has a README: a reader who copies the directory takes it
//! along, so it must say how to run the example, and the chapter paths it
//! names must exist.

use std::path::Path;

use anyhow::Result;
use regex::Regex;

use crate::repo;

/// What is wrong with the examples' READMEs under `root`.
pub fn problems(root: &Path) -> Result<Vec<String>> {
    let chapter =
        Regex::new(r"book/src/[A-Za-z0-9_/-]+\.md").expect("a valid pattern");
    let mut problems = Vec::new();
    for example in repo::examples_in(root)? {
        let path = example.dir.join("README.md");
        let shown = format!("examples/{}/README.md", example.slug);
        let Ok(text) = std::fs::read_to_string(&path) else {
            problems.push(format!(
                "{shown} is missing: every example says what it is and how to run it"
            ));
            continue;
        };
        if !text.contains("cargo run") && !text.contains("cargo xtask run") {
            problems.push(format!(
                "{shown} says nowhere how to run it (`cargo run` or `cargo xtask run`)"
            ));
        }
        for found in chapter.find_iter(&text) {
            if !root.join(found.as_str()).is_file() {
                problems.push(format!(
                    "{shown} names {}, which does not exist",
                    found.as_str()
                ));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(root: &Path, slug: &str, readme: Option<&str>) {
        let dir = root.join("examples").join(slug);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("[package]\nname = \"example-{slug}\"\n"),
        )
        .unwrap();
        if let Some(text) = readme {
            std::fs::write(dir.join("README.md"), text).unwrap();
        }
    }

    #[test]
    fn a_missing_readme_a_missing_command_and_a_wrong_chapter_are_named() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("book/src/patterns")).unwrap();
        std::fs::write(root.path().join("book/src/patterns/retry.md"), "").unwrap();
        example(
            root.path(),
            "good",
            Some("`book/src/patterns/retry.md`: cargo run\n"),
        );
        example(root.path(), "none", None);
        example(root.path(), "silent", Some("An example.\n"));
        example(
            root.path(),
            "moved",
            Some("book/src/patterns/retries.md; cargo run\n"),
        );
        let found = problems(root.path()).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(
            "examples/moved/README.md names book/src/patterns/retries.md"
        ));
        assert!(found[1].starts_with("examples/none/README.md is missing"));
        assert!(found[2].starts_with("examples/silent/README.md says nowhere"));
    }

    #[test]
    fn the_repository_s_readmes_pass() {
        assert_eq!(problems(&repo::root()).unwrap(), Vec::<String>::new());
    }
}
