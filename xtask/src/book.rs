//! The mdBook: where snapshots go, and building it with a pinned `mdbook`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::workspace;

/// The `mdbook` release the book is built with, installed on first use.
pub const MDBOOK_VERSION: &str = "0.5.4";

/// `book/src/generated/<slug>.txt`: the normalised trace tree of a scenario.
pub fn snapshot_path(slug: &str) -> PathBuf {
    workspace::root()
        .join("book/src/generated")
        .join(format!("{slug}.txt"))
}

/// The pinned `mdbook`, installed into `target/tools` when missing.
pub fn mdbook() -> Result<PathBuf> {
    let tools = workspace::target_dir().join("tools");
    let binary = tools.join("bin").join("mdbook");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(MDBOOK_VERSION));
    if !installed {
        println!(
            "installing mdbook {MDBOOK_VERSION} into {} (once)",
            tools.display()
        );
        let tools_arg = tools.to_string_lossy().into_owned();
        workspace::run(
            "cargo",
            &[
                "install",
                "mdbook",
                "--version",
                &format!("={MDBOOK_VERSION}"),
                "--locked",
                "--root",
                &tools_arg,
                "--quiet",
            ],
        )
        .context("installing mdbook failed; it needs crates.io")?;
    }
    Ok(binary)
}

/// Builds the book into `target/book`.
pub fn build() -> Result<()> {
    let mdbook = mdbook()?;
    let out = workspace::target_dir().join("book");
    let status = Command::new(&mdbook)
        .arg("build")
        .arg(workspace::root().join("book"))
        .arg("--dest-dir")
        .arg(&out)
        .status()
        .with_context(|| format!("cannot run {}", mdbook.display()))?;
    if !status.success() {
        bail!("mdbook build failed ({status})");
    }
    println!("book written to {}", out.join("index.html").display());
    Ok(())
}
