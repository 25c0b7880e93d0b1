//! Each example copied out of the workspace (no workspace around it, no
//! lock file) and type-checked there with its own dependency resolution, as
//! a reader who copies it would. (`check`, not `build`: a build would
//! overwrite the workspace's binary of the same name.)

use std::path::Path;

use anyhow::{Context as _, Result};

use crate::repo::{self, Example};
use crate::tools::Outcome;
use crate::{proc, web};

pub fn run(examples: &[Example]) -> Result<Outcome> {
    // Outside the repository: under it, Cargo would find our workspace. The
    // same path every time, so that Cargo's fingerprints of the copies stay
    // valid from one run to the next.
    let base = std::env::temp_dir().join("rust-otel-book-standalone");
    let target_dir = repo::target_dir().to_string_lossy().into_owned();
    for example in examples {
        let copy = base.join(&example.slug);
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("cannot clear {}", copy.display()))?;
        }
        copy_tree(&example.dir, &copy)?;
        let manifest = copy.join("Cargo.toml").to_string_lossy().into_owned();
        let args = [
            "check",
            "--all-targets",
            "--manifest-path",
            &manifest,
            "--target-dir",
            &target_dir,
        ];
        proc::run("cargo", &args).with_context(|| {
            format!("{} does not build outside the workspace", example.slug)
        })?;
        // A front end is checked for the target it is built for.
        for front_end in web::front_ends(example)? {
            let nested = front_end
                .manifest
                .strip_prefix(&example.dir)
                .context("a front end lives inside its example")?;
            let manifest = copy.join(nested).to_string_lossy().into_owned();
            web::ensure_target()?;
            let mut args = vec![
                "check",
                "--target",
                web::WASM_TARGET,
                "--manifest-path",
                &manifest,
                "--target-dir",
                &target_dir,
            ];
            // Not `--package`: the copy is a package of its own.
            let package_args = front_end.cargo_args();
            args.extend(package_args.iter().skip(2).map(String::as_str));
            proc::run("cargo", &args).with_context(|| {
                format!("{} does not build outside the workspace", front_end.package)
            })?;
        }
    }
    Ok(Outcome::Passed)
}

/// Copies the files under `from` to `to`, keeping the layout.
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
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::copy_tree;

    #[test]
    fn a_copy_keeps_the_layout() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("src/bin")).unwrap();
        std::fs::write(from.path().join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(from.path().join("src/bin/job.rs"), "fn main() {}").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), &to.path().join("copy")).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.path().join("copy/src/bin/job.rs")).unwrap(),
            "fn main() {}"
        );
    }
}
