//! Each example copied out of the workspace (no workspace around it) and
//! linted there with clippy, `-D warnings`, as a reader who copies it would
//! build it: with the features its own manifest asks for, not the union the
//! workspace resolves. This is where the examples are linted; the `clippy`
//! step lints the tooling. Each copy gets the workspace's `Cargo.lock`
//! (Cargo keeps the entries it uses), so it is checked with the versions
//! every other step tested, and the dependencies checked for one copy are
//! reused by the next wherever their features agree. (`clippy`, which
//! checks, not `build`: a build would overwrite the workspace's binary of
//! the same name.)
//!
//! A browser front end is resolved in its copy, for the wasm target, and
//! compiled and linted in the workspace with `--package` selecting it alone
//! (`web::compile`), which resolves its features as the copy would: that
//! one compilation is also the wasm the scenarios serve, where a check of
//! the copy would compile its whole dependency graph for the wasm target a
//! second time.

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::repo::{self, Example, Manifest};
use crate::tools::Outcome;
use crate::{proc, web};

pub fn run(examples: &[Example]) -> Result<Outcome> {
    if !proc::succeeds("cargo", &["clippy", "--version"]) {
        return Ok(Outcome::Skipped(
            "`cargo clippy` is not installed (rustup component add clippy)".into(),
        ));
    }
    // Outside the repository: under it, Cargo would find our workspace. The
    // same path every time, so that Cargo's fingerprints of the copies stay
    // valid from one run to the next.
    let base = std::env::temp_dir().join("rust-otel-book-standalone");
    let target_dir = repo::target_dir().to_string_lossy().into_owned();
    let lock = repo::root().join("Cargo.lock");
    for example in examples {
        let copy = base.join(&example.slug);
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("cannot clear {}", copy.display()))?;
        }
        copy_tree(&example.dir, &copy)?;
        let front_ends = web::front_ends(example)?;
        for (position, original) in example.manifests()?.iter().enumerate() {
            let nested = original
                .strip_prefix(&example.dir)
                .context("a manifest of an example lives inside it")?;
            let manifest = copy.join(nested);
            let dir = manifest.parent().context("a manifest has a directory")?;
            std::fs::copy(&lock, dir.join("Cargo.lock")).with_context(|| {
                format!("cannot copy Cargo.lock to {}", dir.display())
            })?;
            let manifest = manifest.to_string_lossy().into_owned();
            let package = Manifest::read(original)?.package.name;
            let front_end = front_ends.iter().find(|f| f.package == package);
            // The example's own package is always linted natively (a Leptos
            // crate is its server and its front end); a nested one natively
            // unless it is a front end.
            if position == 0 || front_end.is_none() {
                clippy(
                    &["--all-targets", "--manifest-path", &manifest],
                    &target_dir,
                    &package,
                )?;
            }
            if let Some(front_end) = front_end {
                resolves_alone(&manifest, &package)?;
                web::compile(front_end, web::DEV_PROFILE, web::Lints::Deny)?;
            }
        }
    }
    Ok(Outcome::Passed)
}

/// Whether the copy's manifest stands alone for the wasm target: Cargo
/// reads it without a workspace around it and resolves its dependencies
/// against the copied lock (`cargo metadata`, which compiles nothing).
fn resolves_alone(manifest: &str, package: &str) -> Result<()> {
    cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .other_options(vec![
            "--filter-platform".to_owned(),
            web::WASM_TARGET.to_owned(),
        ])
        .exec()
        .with_context(|| {
            format!(
                "{package}, copied out of the workspace, does not resolve for {}",
                web::WASM_TARGET
            )
        })?;
    Ok(())
}

/// `cargo clippy ARGS -- -D warnings` in the shared target directory.
fn clippy(args: &[&str], target_dir: &str, package: &str) -> Result<()> {
    let mut all = vec!["clippy"];
    all.extend(args);
    all.extend(["--target-dir", target_dir, "--", "-D", "warnings"]);
    proc::run("cargo", &all).with_context(|| {
        format!("{package}, copied out of the workspace, does not pass clippy")
    })
}

/// Copies the files under `from` to `to`, keeping the layout and each
/// file's modification time: Cargo then finds a copy of an unchanged
/// example fresh, and a warm run checks nothing again.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let target = to.join(entry.path().strip_prefix(from)?);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!("cannot copy {}", entry.path().display())
            })?;
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&target)
                .and_then(|file| file.set_modified(modified))
                .with_context(|| format!("cannot date {}", target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::copy_tree;

    #[test]
    fn a_copy_keeps_the_layout_and_the_times() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("src/bin")).unwrap();
        std::fs::write(from.path().join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(from.path().join("src/bin/job.rs"), "fn main() {}").unwrap();
        let to = tempfile::tempdir().unwrap();
        let past = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(from.path().join("src/bin/job.rs"))
            .unwrap()
            .set_modified(past)
            .unwrap();
        copy_tree(from.path(), &to.path().join("copy")).unwrap();
        let copied = to.path().join("copy/src/bin/job.rs");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "fn main() {}");
        assert_eq!(
            std::fs::metadata(&copied).unwrap().modified().unwrap(),
            past
        );
    }
}
