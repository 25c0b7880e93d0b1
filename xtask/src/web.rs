//! Ground, for the browser examples: builds the examples' browser front ends, the packages
//! whose `[package.metadata.book] target` is `wasm32-unknown-unknown`, with
//! the wasm target and the pinned `wasm-bindgen` CLI into
//! `target/web/<package>/`, and reports each one's size, raw and gzipped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::proc;
use crate::repo::{self, Example, Manifest, relative};
use crate::tools::CargoTool;

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The Cargo profile whose sizes the book quotes (`cargo xtask web`; root
/// `Cargo.toml`): release, optimised for size, link-time optimised.
pub const PROFILE: &str = "wasm-release";
/// The profile the scenarios and `cargo xtask run` serve: optimised, but
/// without link-time optimisation and with many codegen units, so a cold
/// build takes a fraction of the time. What the page does is the same.
pub const DEV_PROFILE: &str = "wasm-dev";

/// A front-end package of an example.
pub struct FrontEnd {
    pub package: String,
    pub manifest: PathBuf,
    /// `[package.metadata.book] features`: built with these and without the
    /// default ones (a full-stack crate's `hydrate`, say).
    pub features: Vec<String>,
}

impl FrontEnd {
    /// `wasm-bindgen`'s output: `<package>.js` and `<package>_bg.wasm`.
    pub fn out_dir(&self) -> PathBuf {
        repo::target_dir().join("web").join(&self.package)
    }

    fn lib_name(&self) -> String {
        self.package.replace('-', "_")
    }

    /// `--package` and the feature flags, for cargo build, check and clippy.
    pub fn cargo_args(&self) -> Vec<String> {
        let mut args =
            vec!["--package".to_owned(), self.package.clone(), "--lib".into()];
        if !self.features.is_empty() {
            args.push("--no-default-features".into());
            args.push("--features".into());
            args.push(self.features.join(","));
        }
        args
    }
}

/// The front ends of `example` (packages nested in it that declare the wasm
/// target).
pub fn front_ends(example: &Example) -> Result<Vec<FrontEnd>> {
    let mut found = Vec::new();
    for manifest in example.manifests()? {
        let package = Manifest::read(&manifest)?.package;
        match package.metadata.book.target.as_deref() {
            None => continue,
            Some(WASM_TARGET) => {}
            Some(other) => bail!(
                "{}: [package.metadata.book] target = {other:?}; only {WASM_TARGET:?} is built",
                relative(&manifest)
            ),
        }
        found.push(FrontEnd {
            package: package.name,
            manifest,
            features: package.metadata.book.features,
        });
    }
    Ok(found)
}

/// Every front end of every example.
pub fn all_front_ends() -> Result<Vec<FrontEnd>> {
    let mut all = Vec::new();
    for example in repo::examples()? {
        all.extend(front_ends(&example)?);
    }
    Ok(all)
}

/// Adds the wasm target with rustup when it is missing.
pub fn ensure_target() -> Result<()> {
    let installed =
        proc::output(Command::new("rustup").args(["target", "list", "--installed"]))
            .context("rustup is needed to add the wasm32-unknown-unknown target")?;
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    proc::run("rustup", &["target", "add", WASM_TARGET])
}

/// The `wasm-bindgen` CLI at the version of the `wasm-bindgen` crate in
/// `Cargo.lock` (the JS glue and the wasm must agree), installed into
/// `target/tools` the first time.
pub fn wasm_bindgen_cli() -> Result<PathBuf> {
    let version = repo::locked()?
        .into_iter()
        .find(|(name, _)| name == "wasm-bindgen")
        .map(|(_, version)| version)
        .context("Cargo.lock has no wasm-bindgen package")?;
    CargoTool {
        krate: "wasm-bindgen-cli",
        version: &version,
        binary: "wasm-bindgen",
        // Its own lock names a crate version the registry no longer serves.
        locked: false,
        features: &[],
        default_features: true,
        // A debug build: its output is the same, and it compiles in a
        // fraction of an optimised build's time.
        release: false,
    }
    .install()
}

/// What a build produced.
pub struct Built {
    pub package: String,
    pub wasm: PathBuf,
    pub raw_bytes: u64,
    pub gzip_bytes: u64,
}

/// Builds the front ends with the Cargo `profile` ([`PROFILE`] or
/// [`DEV_PROFILE`]): cargo for the wasm target, then `wasm-bindgen`.
pub fn build(front_ends: &[FrontEnd], profile: &str) -> Result<Vec<Built>> {
    if front_ends.is_empty() {
        return Ok(Vec::new());
    }
    ensure_target()?;
    let cli = wasm_bindgen_cli()?;
    let mut built = Vec::new();
    for front_end in front_ends {
        let mut args = vec![
            "build",
            "--locked",
            "--profile",
            profile,
            "--target",
            WASM_TARGET,
        ];
        let package_args = front_end.cargo_args();
        args.extend(package_args.iter().map(String::as_str));
        proc::run("cargo", &args)?;
        let input = repo::target_dir()
            .join(WASM_TARGET)
            .join(profile)
            .join(format!("{}.wasm", front_end.lib_name()));
        let out = front_end.out_dir();
        let wasm = out.join(format!("{}_bg.wasm", front_end.lib_name()));
        if !fresh(&wasm, &[&input, &cli]) {
            let out_arg = out.to_string_lossy().into_owned();
            let input_arg = input.to_string_lossy().into_owned();
            let args = [
                "--target",
                "web",
                "--no-typescript",
                "--out-dir",
                &out_arg,
                &input_arg,
            ];
            proc::run(&cli.to_string_lossy(), &args).with_context(|| {
                format!("wasm-bindgen on {}", front_end.manifest.display())
            })?;
        }
        let (raw_bytes, gzip_bytes) = sizes(&wasm)?;
        built.push(Built {
            package: front_end.package.clone(),
            wasm,
            raw_bytes,
            gzip_bytes,
        });
    }
    Ok(built)
}

/// Whether `output` exists and is newer than each of `inputs`: then
/// `wasm-bindgen` made it from this very wasm, and need not run again.
fn fresh(output: &Path, inputs: &[&Path]) -> bool {
    let modified =
        |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let Some(made) = modified(output) else {
        return false;
    };
    inputs
        .iter()
        .all(|input| modified(input).is_some_and(|t| t < made))
}

/// Raw size and size gzipped at the best level (what a server that
/// precompresses sends).
fn sizes(path: &Path) -> Result<(u64, u64)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes)?;
    let gzipped = encoder.finish()?;
    Ok((bytes.len() as u64, gzipped.len() as u64))
}

/// `cargo xtask web`: builds every front end and prints the size table.
pub fn run() -> Result<()> {
    let built = build(&all_front_ends()?, PROFILE)?;
    println!(
        "\n{:<24} {:>12} {:>12}  (profile {PROFILE}, wasm-bindgen output)",
        "front end", "wasm bytes", "gzip -9"
    );
    for b in &built {
        println!(
            "{:<24} {:>12} {:>12}  {}",
            b.package,
            b.raw_bytes,
            b.gzip_bytes,
            relative(&b.wasm)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fresh;

    #[test]
    fn an_output_older_than_an_input_or_missing_is_not_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) =
            (dir.path().join("in.wasm"), dir.path().join("out.wasm"));
        assert!(!fresh(&output, &[&input]));
        std::fs::write(&input, "a").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&output, "b").unwrap();
        assert!(fresh(&output, &[&input]));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&input, "c").unwrap();
        assert!(!fresh(&output, &[&input]));
    }
}
