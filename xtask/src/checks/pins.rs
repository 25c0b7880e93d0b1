//! `cargo xtask pins`: the root `[workspace.dependencies]` is the one pin
//! table; every example writes the same exact versions out in its own
//! `Cargo.toml`, and the lock holds one version of each OpenTelemetry crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use toml_edit::{DocumentMut, Item, TableLike, Value};

use crate::repo::{self, relative};

pub mod outdated;

/// Lists crates allowed to appear in the lock in more than one version: the
/// other version, the manifests that may ask for it, and why.
pub const EXCEPTIONS_FILE: &str = "pins-exceptions.toml";

const DEPENDENCY_TABLES: &[&str] =
    &["dependencies", "dev-dependencies", "build-dependencies"];

/// The pin table: crate name → exact version (without the leading `=`).
pub fn table() -> Result<BTreeMap<String, String>> {
    table_in(&repo::root())
}

/// The pin table of the workspace at `root`.
pub fn table_in(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join("Cargo.toml");
    let doc = read(&path)?;
    let deps = doc
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Item::as_table_like)
        .with_context(|| {
            format!("{} has no [workspace.dependencies]", relative(&path))
        })?;
    let mut pins = BTreeMap::new();
    for (name, item) in deps.iter() {
        let version = version_of(item).with_context(|| {
            format!(
                "{}: `{name}` in the pin table has no version",
                relative(&path)
            )
        })?;
        let Some(exact) = version.strip_prefix('=') else {
            bail!(
                "{}: `{name} = \"{version}\"` in the pin table is not exact; write \"={version}\"",
                relative(&path)
            );
        };
        pins.insert(name.to_owned(), exact.trim().to_owned());
    }
    Ok(pins)
}

fn read(path: &Path) -> Result<DocumentMut> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", relative(path)))?;
    text.parse()
        .with_context(|| format!("{} is not valid TOML", relative(path)))
}

fn version_of(item: &Item) -> Option<String> {
    match item {
        Item::Value(Value::String(s)) => Some(s.value().clone()),
        Item::Value(Value::InlineTable(t)) => {
            t.get("version").and_then(|v| v.as_str()).map(str::to_owned)
        }
        Item::Table(t) => {
            t.get("version").and_then(|v| v.as_str()).map(str::to_owned)
        }
        _ => None,
    }
}

fn uses_workspace(item: &Item) -> bool {
    let flag = match item {
        Item::Value(Value::InlineTable(t)) => {
            t.get("workspace").and_then(|v| v.as_bool())
        }
        Item::Table(t) => t.get("workspace").and_then(|v| v.as_bool()),
        _ => None,
    };
    flag == Some(true)
}

/// `path = ".."` of a dependency, if it has one.
fn path_of(item: &Item) -> Option<String> {
    let path = match item {
        Item::Value(Value::InlineTable(t)) => t.get("path")?.as_str(),
        Item::Table(t) => t.get("path")?.as_str(),
        _ => None,
    };
    path.map(str::to_owned)
}

fn set_version(item: &mut Item, version: &str) {
    match item {
        Item::Value(Value::InlineTable(t)) => {
            t.insert("version", version.into());
        }
        Item::Table(t) => {
            t.insert("version", toml_edit::value(version));
        }
        other => *other = toml_edit::value(version),
    }
}

/// Every way the examples and the lock disagree with the pin table, and
/// every binary name two examples share ([`super::binaries`]), and every
/// example README that is missing or wrong ([`super::readmes`]).
/// With `write`, fixes the examples' versions instead of reporting them.
pub fn check(write: bool) -> Result<Vec<String>> {
    let mut problems = check_in(&repo::root(), write)?;
    problems.extend(super::readmes::problems(&repo::root())?);
    Ok(problems)
}

/// As [`check`], for the workspace at `root`.
pub fn check_in(root: &Path, write: bool) -> Result<Vec<String>> {
    let pins = table_in(root)?;
    let exceptions = exceptions(root)?;
    let mut problems = super::binaries::collisions(root)?;
    problems.extend(super::binaries::without_default_run(root)?);
    let mut manifests = Vec::new();
    for example in repo::examples_in(root)? {
        for manifest in example.manifests()? {
            manifests.push((example.dir.clone(), manifest));
        }
    }
    for (example_dir, path) in manifests {
        let mut doc = read(&path)?;
        let mut changed = false;
        let file = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        // `[dependencies]` and friends, then the same under each
        // `[target.'cfg(..)']` (a wasm front end keeps its crates there).
        let mut tables: Vec<(String, &mut dyn TableLike)> = Vec::new();
        let (plain, targets): (Vec<_>, Vec<_>) = doc
            .as_table_mut()
            .iter_mut()
            .partition(|(key, _)| key.get() != "target");
        for (key, item) in plain {
            if DEPENDENCY_TABLES.contains(&key.get())
                && let Some(deps) = item.as_table_like_mut()
            {
                tables.push((key.get().to_owned(), deps));
            }
        }
        for (_, item) in targets {
            let Some(targets) = item.as_table_like_mut() else {
                continue;
            };
            for (cfg, target) in targets.iter_mut() {
                let Some(target) = target.as_table_like_mut() else {
                    continue;
                };
                for (key, item) in target.iter_mut() {
                    if DEPENDENCY_TABLES.contains(&key.get())
                        && let Some(deps) = item.as_table_like_mut()
                    {
                        tables.push((format!("target.'{cfg}'.{}", key.get()), deps));
                    }
                }
            }
        }
        for (table_name, deps) in tables {
            for (name, item) in deps.iter_mut() {
                if uses_workspace(item) {
                    problems.push(format!(
                        "{file}: [{table_name}] `{name}` uses `workspace = true`; write the version out so a copied example builds alone"
                    ));
                    continue;
                }
                // A crate of the example itself (a server depending on its
                // own front end): unpinned, and it must stay inside the
                // example, or a copied example would not build.
                if let Some(dep_path) = path_of(item) {
                    let base = path.parent().unwrap_or(&example_dir);
                    let root =
                        example_dir.canonicalize().unwrap_or(example_dir.clone());
                    let inside = base
                        .join(&dep_path)
                        .canonicalize()
                        .is_ok_and(|p| p.starts_with(&root));
                    if !inside {
                        problems.push(format!(
                            "{file}: [{table_name}] `{name}` has path \"{dep_path}\", which is not inside {}; an example depends only on pinned crates and its own",
                            relative(&example_dir)
                        ));
                    }
                    continue;
                }
                // A version the exceptions file allows this manifest.
                let found = version_of(item);
                if exceptions.iter().any(|e| {
                    e.name == name.get()
                        && e.manifests.contains(&file)
                        && found.as_deref()
                            == Some(format!("={}", e.version).as_str())
                }) {
                    continue;
                }
                let Some(expected) = pins.get(name.get()) else {
                    problems.push(format!(
                        "{file}: [{table_name}] `{name}` is not in the pin table; add it to [workspace.dependencies] in Cargo.toml"
                    ));
                    continue;
                };
                let expected = format!("={expected}");
                if found.as_deref() != Some(expected.as_str()) {
                    if write {
                        set_version(item, &expected);
                        changed = true;
                    } else {
                        problems.push(format!(
                            "{file}: [{table_name}] `{name}`: found {}, expected \"{expected}\" (fix: cargo xtask pins --write)",
                            found.map(|v| format!("\"{v}\"")).unwrap_or_else(|| "no version".into())
                        ));
                    }
                }
            }
        }
        if changed {
            std::fs::write(&path, doc.to_string())
                .with_context(|| format!("cannot write {}", relative(&path)))?;
            println!("rewrote {}", relative(&path));
        }
    }
    problems.extend(lock_duplicates(
        &pins,
        &exceptions,
        &repo::locked_in(root)?,
    )?);
    Ok(problems)
}

#[derive(Deserialize)]
struct Exceptions {
    #[serde(default)]
    exception: Vec<Exception>,
}

/// A crate that may resolve to a second version: `version`, asked for only
/// by `manifests` (paths from the workspace root), for `reason`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    #[serde(rename = "crate")]
    pub name: String,
    pub version: String,
    pub manifests: Vec<String>,
    pub reason: String,
}

/// The exceptions file, checked: a reason and at least one manifest each.
pub fn exceptions(root: &Path) -> Result<Vec<Exception>> {
    let path = root.join(EXCEPTIONS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)?;
    let exceptions: Exceptions = toml::from_str(&text).with_context(|| {
        format!(
            "{EXCEPTIONS_FILE} is not valid: each [[exception]] needs `crate`, `version`, `manifests` and `reason`"
        )
    })?;
    for e in &exceptions.exception {
        if e.reason.trim().is_empty() || e.manifests.is_empty() {
            bail!(
                "{EXCEPTIONS_FILE}: the exception for `{}` needs a reason and the manifests that use it",
                e.name
            );
        }
    }
    Ok(exceptions.exception)
}

/// Crates that must resolve to one version: two copies of a trait crate mean
/// two incompatible `TracerProvider`s, the classic "no traces" bug.
fn must_be_single(name: &str) -> bool {
    name.starts_with("opentelemetry") || name == "tracing-opentelemetry"
}

fn lock_duplicates(
    pins: &BTreeMap<String, String>,
    exceptions: &[Exception],
    locked: &[(String, String)],
) -> Result<Vec<String>> {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, version) in locked {
        if must_be_single(name) {
            versions.entry(name).or_default().insert(version);
        }
    }
    // Allowed: the pinned version plus the excepted ones, nothing else.
    let allowed = |name: &str, found: &BTreeSet<&str>| {
        found.iter().all(|v| {
            pins.get(name).is_some_and(|p| p == v)
                || exceptions.iter().any(|e| e.name == name && e.version == *v)
        })
    };
    Ok(versions
        .into_iter()
        .filter(|(name, v)| v.len() > 1 && !allowed(name, v))
        .map(|(name, v)| {
            format!(
                "Cargo.lock: `{name}` resolves to {} versions ({}); find who pulls the other with `cargo tree -i {name}@VERSION`, or list it with a reason in {EXCEPTIONS_FILE}",
                v.len(),
                v.into_iter().collect::<Vec<_>>().join(", ")
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace in a temporary directory: a pin table, one example with
    /// `dependencies`, a lock with `locked` packages and, if given, an
    /// exceptions file.
    fn workspace(
        dependencies: &str,
        locked: &[(&str, &str)],
        exceptions: Option<&str>,
    ) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace.dependencies]\n\
             tokio = \"=1.2.3\"\n\
             opentelemetry = { version = \"=0.33.1\", default-features = false }\n",
        )
        .unwrap();
        let example = root.path().join("examples/demo");
        std::fs::create_dir_all(&example).unwrap();
        std::fs::write(
            example.join("Cargo.toml"),
            format!("[package]\nname = \"example-demo\"\n\n[dependencies]\n{dependencies}"),
        )
        .unwrap();
        let mut lock = String::from("version = 4\n");
        for (name, version) in locked {
            lock += &format!(
                "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n"
            );
        }
        std::fs::write(root.path().join("Cargo.lock"), lock).unwrap();
        if let Some(exceptions) = exceptions {
            std::fs::write(root.path().join(EXCEPTIONS_FILE), exceptions).unwrap();
        }
        root
    }

    const PINNED: &str = "tokio = \"=1.2.3\"\nopentelemetry = \"=0.33.1\"\n";
    const ONE_OTEL: &[(&str, &str)] =
        &[("opentelemetry", "0.33.1"), ("tokio", "1.2.3")];

    fn problems(root: &tempfile::TempDir) -> Vec<String> {
        check_in(root.path(), false).unwrap()
    }

    #[test]
    fn pinned_versions_pass() {
        assert_eq!(
            problems(&workspace(PINNED, ONE_OTEL, None)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_loose_version_fails_and_write_fixes_it() {
        let root = workspace("tokio = \"1\"\n", ONE_OTEL, None);
        let found = problems(&root);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("`tokio`: found \"1\", expected \"=1.2.3\""),
            "{found:?}"
        );
        assert!(check_in(root.path(), true).unwrap().is_empty());
        assert!(problems(&root).is_empty());
    }

    #[test]
    fn workspace_true_fails() {
        let found =
            problems(&workspace("tokio = { workspace = true }\n", ONE_OTEL, None));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("uses `workspace = true`"), "{found:?}");
    }

    #[test]
    fn a_crate_missing_from_the_pin_table_fails() {
        let found = problems(&workspace("serde = \"=1.0.0\"\n", ONE_OTEL, None));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("`serde` is not in the pin table"),
            "{found:?}"
        );
    }

    #[test]
    fn a_second_opentelemetry_version_fails_unless_excepted() {
        let two = &[
            ("opentelemetry", "0.33.1"),
            ("opentelemetry", "0.32.0"),
            ("tokio", "1.2.3"),
        ];
        let found = problems(&workspace(PINNED, two, None));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("resolves to 2 versions (0.32.0, 0.33.1)"),
            "{found:?}"
        );
        let excepted = "[[exception]]\ncrate = \"opentelemetry\"\nversion = \"0.32.0\"\n\
                        manifests = [\"examples/demo/Cargo.toml\"]\nreason = \"a test\"\n";
        assert!(problems(&workspace(PINNED, two, Some(excepted))).is_empty());
        // An exception without a reason is refused.
        let unreasoned = excepted.replace("a test", " ");
        let error =
            check_in(workspace(PINNED, two, Some(&unreasoned)).path(), false)
                .unwrap_err();
        assert!(error.to_string().contains("needs a reason"), "{error}");
    }
}
