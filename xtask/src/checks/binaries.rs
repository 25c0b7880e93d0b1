//! Binary names, unique across the examples. The scenario runner starts
//! `target/debug/<bin>`, which all packages of the workspace share: two
//! examples with a binary of the same name leave whichever cargo linked last
//! there, and a scenario may start the other example's program. (It did:
//! two `catalog` binaries, and a cache-aside scenario talking to the GraphQL
//! example's catalog.) And an example with several binaries names the one
//! `cargo run` starts (`default-run`): without it, the `cargo run -p
//! example-x` of its README fails with "could not determine which binary
//! to run". Part of the `pins` step, which reads the manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::repo;

/// Every binary name that more than one manifest builds, with where.
pub fn collisions(root: &Path) -> Result<Vec<String>> {
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for example in repo::examples_in(root)? {
        for manifest in example.manifests()? {
            let crate_dir = manifest.parent().unwrap_or(root).to_owned();
            let shown = crate_dir
                .strip_prefix(root)
                .unwrap_or(&crate_dir)
                .display()
                .to_string();
            for name in binaries(&manifest, &crate_dir)? {
                owners.entry(name).or_default().push(shown.clone());
            }
        }
    }
    Ok(owners
        .into_iter()
        .filter(|(_, crates)| crates.len() > 1)
        .map(|(name, crates)| {
            format!(
                "binary `{name}` is built by {}: the scenario runner starts target/debug/{name}, \
                 which only one of them can be; rename one",
                crates.join(" and ")
            )
        })
        .collect())
}

/// Every manifest with a main binary and others, whose `default-run` is
/// not that main binary.
pub fn without_default_run(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for example in repo::examples_in(root)? {
        for manifest in example.manifests()? {
            let dir = manifest.parent().unwrap_or(root).to_owned();
            let names = binaries(&manifest, &dir)?;
            let doc: toml::Table =
                toml::from_str(&std::fs::read_to_string(&manifest)?)?;
            let package = doc.get("package");
            let name = package.and_then(|p| p.get("name")).and_then(|n| n.as_str());
            let default = package
                .and_then(|p| p.get("default-run"))
                .and_then(|n| n.as_str());
            let Some(name) = name.filter(|n| names.iter().any(|b| b == n)) else {
                continue;
            };
            if names.len() > 1 && default != Some(name) {
                problems.push(format!(
                    "{} builds {} binaries ({}) but its [package] has no `default-run = \"{name}\"`: \
                     `cargo run -p {name}` cannot tell which to start",
                    repo::relative(&manifest),
                    names.len(),
                    names.join(", ")
                ));
            }
        }
    }
    Ok(problems)
}

/// The binaries one manifest builds: `src/main.rs` (named after the
/// package), each `src/bin/*.rs` and `src/bin/*/main.rs`, and each `[[bin]]`.
fn binaries(manifest: &Path, dir: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let mut names = Vec::new();
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str());
    if let Some(package) = package
        && dir.join("src/main.rs").exists()
    {
        names.push(package.to_owned());
    }
    let bin_dir: PathBuf = dir.join("src/bin");
    if let Ok(entries) = std::fs::read_dir(&bin_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = if path.extension().is_some_and(|e| e == "rs") {
                path.file_stem()
            } else if path.join("main.rs").exists() {
                path.file_name()
            } else {
                None
            };
            if let Some(name) = name {
                names.push(name.to_string_lossy().into_owned());
            }
        }
    }
    if let Some(bins) = doc.get("bin").and_then(|b| b.as_array()) {
        for name in bins.iter().filter_map(|b| b.get("name")?.as_str()) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn example(root: &Path, slug: &str) {
        let manifest =
            format!("[package]\nname = \"example-{slug}\"\nversion = \"0.1.0\"\n");
        write(root, &format!("examples/{slug}/Cargo.toml"), &manifest);
        write(
            root,
            &format!("examples/{slug}/src/main.rs"),
            "fn main() {}\n",
        );
    }

    #[test]
    fn the_same_binary_in_two_examples_is_named_with_both() {
        let root = tempfile::tempdir().unwrap();
        example(root.path(), "shop");
        example(root.path(), "graph");
        write(
            root.path(),
            "examples/shop/src/bin/catalog.rs",
            "fn main() {}\n",
        );
        write(
            root.path(),
            "examples/graph/src/bin/catalog/main.rs",
            "fn main() {}\n",
        );
        write(
            root.path(),
            "examples/graph/src/bin/reviews.rs",
            "fn main() {}\n",
        );

        let found = collisions(root.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("binary `catalog` is built by"),
            "{}",
            found[0]
        );
        assert!(
            found[0].contains("examples/graph")
                && found[0].contains("examples/shop")
        );
    }

    #[test]
    fn a_bin_table_counts_and_distinct_names_pass() {
        let root = tempfile::tempdir().unwrap();
        example(root.path(), "one");
        example(root.path(), "two");
        assert!(collisions(root.path()).unwrap().is_empty());
        let manifest = "[package]\nname = \"example-two\"\nversion = \"0.1.0\"\n\
                        [[bin]]\nname = \"example-one\"\npath = \"src/other.rs\"\n";
        write(root.path(), "examples/two/Cargo.toml", manifest);
        let found = collisions(root.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("binary `example-one`"));
    }

    #[test]
    fn several_binaries_need_a_default_run_naming_the_main_one() {
        let root = tempfile::tempdir().unwrap();
        example(root.path(), "shop");
        assert!(without_default_run(root.path()).unwrap().is_empty());
        write(
            root.path(),
            "examples/shop/src/bin/catalog.rs",
            "fn main() {}\n",
        );
        let found = without_default_run(root.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("builds 2 binaries (catalog, example-shop)"),
            "{}",
            found[0]
        );
        let with = |run: &str| {
            format!(
                "[package]\nname = \"example-shop\"\nversion = \"0.1.0\"\n\
                 default-run = \"{run}\"\n"
            )
        };
        write(root.path(), "examples/shop/Cargo.toml", &with("catalog"));
        assert_eq!(without_default_run(root.path()).unwrap().len(), 1);
        write(
            root.path(),
            "examples/shop/Cargo.toml",
            &with("example-shop"),
        );
        assert!(without_default_run(root.path()).unwrap().is_empty());
    }
}
