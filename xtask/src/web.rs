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
    wasm_bindgen_tool()?.install()
}

/// The `wasm-bindgen` CLI of [`wasm_bindgen_cli`], not installed yet.
pub fn wasm_bindgen_tool() -> Result<CargoTool> {
    let version = repo::locked()?
        .into_iter()
        .find(|(name, _)| name == "wasm-bindgen")
        .map(|(_, version)| version)
        .context("Cargo.lock has no wasm-bindgen package")?;
    Ok(CargoTool {
        krate: "wasm-bindgen-cli",
        version: version.into(),
        binary: "wasm-bindgen",
        // Its own lock names a crate version the registry no longer serves.
        locked: false,
        features: &[],
        default_features: true,
        // A debug build: its output is the same, and it compiles in a
        // fraction of an optimised build's time.
        release: false,
    })
}

/// What a build produced.
pub struct Built {
    pub package: String,
    pub wasm: PathBuf,
    pub raw_bytes: u64,
    pub gzip_bytes: u64,
}

/// How a build of a front end treats clippy's lints on the front end's own
/// code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lints {
    /// Clippy's lints, `-D warnings`: verify's builds (the `standalone`
    /// step, which is where the front ends are linted, and the scenarios,
    /// which find that build fresh).
    Deny,
    /// Clippy's lints as warnings: `cargo xtask run`, where a reader may be
    /// editing. Through the same driver as [`Lints::Deny`], so that Cargo,
    /// which records `CLIPPY_ARGS` for a crate the driver compiled,
    /// compiles the crate again when the two alternate. (Cargo does not
    /// count the wrapper itself in a unit's fingerprint: a build made
    /// without the driver would be taken as fresh by a linting one. Every
    /// build of [`DEV_PROFILE`] here goes through the driver.)
    Warn,
    /// No clippy: `cargo xtask web`, whose sizes the book quotes, made by
    /// `rustc` alone.
    Off,
}

impl Lints {
    /// The environment that makes Cargo compile the workspace's members
    /// with `clippy-driver`. That is what `cargo clippy -- -D warnings`
    /// does, for a check: it sets `RUSTC_WORKSPACE_WRAPPER` to the driver
    /// and passes the arguments after `--` in `CLIPPY_ARGS`, each followed
    /// by `__CLIPPY_HACKERY__`. Here the driver runs during a build, so one
    /// compilation of the dependency graph both lints a front end and makes
    /// its wasm; a separate check would compile the whole graph a second
    /// time for the wasm target. The dependencies are compiled by `rustc`
    /// as usual: the wrapper applies to workspace members only.
    fn env(self) -> Result<Vec<(&'static str, String)>> {
        let args = match self {
            Lints::Off => return Ok(Vec::new()),
            Lints::Deny => "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
            Lints::Warn => "",
        };
        Ok(vec![
            ("RUSTC_WORKSPACE_WRAPPER", clippy_driver()?),
            ("CLIPPY_ARGS", args.to_owned()),
        ])
    }
}

/// Compiles `front_end` for the wasm target with the Cargo `profile` and
/// returns the wasm it produced. `--package` selects the front end alone,
/// so Cargo resolves its dependencies' features as it would for a copy of
/// the package outside the workspace.
pub fn compile(
    front_end: &FrontEnd,
    profile: &str,
    lints: Lints,
) -> Result<PathBuf> {
    ensure_target()?;
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
    let env = lints.env()?;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    proc::run_with_env("cargo", &args, &env).with_context(|| match lints {
        Lints::Deny => format!(
            "{} does not build for {WASM_TARGET} or does not pass clippy",
            front_end.package
        ),
        Lints::Warn | Lints::Off => {
            format!("{} does not build for {WASM_TARGET}", front_end.package)
        }
    })?;
    Ok(repo::target_dir()
        .join(WASM_TARGET)
        .join(profile)
        .join(format!("{}.wasm", front_end.lib_name())))
}

/// The toolchain's `clippy-driver`, beside `rustc` in its sysroot.
fn clippy_driver() -> Result<String> {
    let sysroot = proc::output(Command::new("rustc").args(["--print", "sysroot"]))
        .context("rustc is needed to find clippy-driver")?;
    let driver = Path::new(sysroot.trim()).join("bin").join("clippy-driver");
    if !driver.exists() {
        bail!(
            "{} not found: install clippy (rustup component add clippy)",
            driver.display()
        );
    }
    Ok(driver.to_string_lossy().into_owned())
}

/// Builds the front ends with the Cargo `profile` ([`PROFILE`] or
/// [`DEV_PROFILE`]): [`compile`], then `wasm-bindgen`.
pub fn build(
    front_ends: &[FrontEnd],
    profile: &str,
    lints: Lints,
) -> Result<Vec<Built>> {
    if front_ends.is_empty() {
        return Ok(Vec::new());
    }
    let cli = wasm_bindgen_cli()?;
    let mut built = Vec::new();
    for front_end in front_ends {
        let input = compile(front_end, profile, lints)?;
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
    let built = build(&all_front_ends()?, PROFILE, Lints::Off)?;
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
    use super::{Lints, fresh};

    /// Builds a one-file crate with `lints`' environment; whether it built.
    fn builds(dir: &std::path::Path, lints: Lints) -> bool {
        let manifest = dir.join("Cargo.toml");
        std::process::Command::new("cargo")
            .args(["build", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(dir.join("target"))
            .envs(lints.env().unwrap())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    #[test]
    fn a_denied_lint_fails_the_build_even_after_a_build_that_only_warned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"lints-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        // `clippy::len_zero`: a lint rustc alone does not have.
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() {\n    let args: Vec<String> = std::env::args().collect();\n    if args.len() == 0 {\n        println!(\"none\");\n    }\n}\n",
        )
        .unwrap();
        assert!(builds(dir.path(), Lints::Off));
        assert!(builds(dir.path(), Lints::Warn));
        assert!(!builds(dir.path(), Lints::Deny), "len_zero was not denied");
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() {\n    let args: Vec<String> = std::env::args().collect();\n    if args.is_empty() {\n        println!(\"none\");\n    }\n}\n",
        )
        .unwrap();
        assert!(builds(dir.path(), Lints::Deny));
    }

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
