//! Where things are: the repository root, the target directory, the examples.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::scenario::Example;

/// The repository root (the workspace that holds `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A path relative to the root, for messages.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    }
}

/// Every `examples/<slug>/` with a `Cargo.toml`, sorted by slug.
pub fn examples() -> Result<Vec<Example>> {
    let dir = root().join("examples");
    let mut examples = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let slug = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("example directory names must be UTF-8")?
            .to_owned();
        let text = std::fs::read_to_string(&manifest)?;
        let doc: toml::Table = toml::from_str(&text)
            .with_context(|| format!("{} is not valid TOML", relative(&manifest)))?;
        let package = doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .with_context(|| format!("{} has no package.name", relative(&manifest)))?
            .to_owned();
        examples.push(Example {
            slug,
            dir: path,
            package,
        });
    }
    examples.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(examples)
}

/// The example's `Cargo.toml` and those of packages nested in it (a crate an
/// example needs built apart, such as one that must lack a feature).
pub fn manifests_of(example: &Example) -> Result<Vec<PathBuf>> {
    let mut manifests = vec![example.dir.join("Cargo.toml")];
    let mut nested = Vec::new();
    for entry in std::fs::read_dir(&example.dir)
        .with_context(|| format!("cannot list {}", example.dir.display()))?
    {
        let manifest = entry?.path().join("Cargo.toml");
        if manifest.exists() {
            nested.push(manifest);
        }
    }
    nested.sort();
    manifests.extend(nested);
    Ok(manifests)
}

/// What the book reads from a crate's manifest: its name and its
/// `[package.metadata.book]` target and features.
pub struct ManifestPackage {
    pub name: String,
    /// `target`: a browser front end says `wasm32-unknown-unknown`.
    pub target: Option<String>,
    pub features: Vec<String>,
}

/// Reads `manifest`'s package name and book metadata.
pub fn manifest_package(manifest: &Path) -> Result<ManifestPackage> {
    let text = std::fs::read_to_string(manifest)?;
    let doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", relative(manifest)))?;
    let package = doc.get("package");
    let book = package
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("book"));
    let name = package
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .with_context(|| format!("{} has no package.name", relative(manifest)))?;
    Ok(ManifestPackage {
        name: name.to_owned(),
        target: book
            .and_then(|b| b.get("target"))
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        features: book
            .and_then(|b| b.get("features"))
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
    })
}

/// The packages of `example` that run natively: the example's own and any
/// nested one that does not declare a browser target (a second service).
pub fn server_packages(example: &Example) -> Result<Vec<String>> {
    let mut packages = vec![example.package.clone()];
    for manifest in manifests_of(example)?.into_iter().skip(1) {
        let package = manifest_package(&manifest)?;
        if package.target.is_none() {
            packages.push(package.name);
        }
    }
    Ok(packages)
}

/// The example with this slug, or an error listing the ones that exist.
pub fn example(slug: &str) -> Result<Example> {
    let all = examples()?;
    let names: Vec<String> = all.iter().map(|e| e.slug.clone()).collect();
    match all.into_iter().find(|e| e.slug == slug) {
        Some(example) => Ok(example),
        None => bail!("no example {slug:?}; there are: {}", names.join(", ")),
    }
}

/// Runs a command from the root, echoing it as `> cmd args`; fails on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    run_with_env(program, args, &[])
}

/// As [`run`], with extra environment variables (not echoed: they may hold
/// credentials).
pub fn run_with_env(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    println!("> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run {program}; is it installed?"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Builds these packages' binaries in release mode (what the benches
/// measure) and returns the directory they are in.
pub fn build_release(packages: &[&str]) -> Result<PathBuf> {
    let mut args = vec!["build", "--release", "--locked", "--bins"];
    for package in packages {
        args.extend(["--package", package]);
    }
    run("cargo", &args)?;
    Ok(target_dir().join("release"))
}

/// The first file named `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(prefix: &str) -> Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir()
            .join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Python venv under `target/tools/<name>` with `spec` (a pinned PyPI
/// requirement) installed, once: a stamp file remembers what is there.
/// `hint` says what to install when Python is missing.
pub fn python_tool(name: &str, spec: &str, hint: &str) -> Result<PathBuf> {
    let venv = target_dir().join("tools").join(name);
    let stamp = venv.join("installed.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == spec) {
        return Ok(venv);
    }
    println!("installing {spec} into {} (once)", venv.display());
    let venv_arg = venv.to_string_lossy().into_owned();
    run("python3", &["-m", "venv", &venv_arg])
        .with_context(|| format!("creating a venv for {name} needs {hint}"))?;
    let pip = venv.join("bin/pip").to_string_lossy().into_owned();
    run(
        &pip,
        &["install", "--quiet", "--disable-pip-version-check", spec],
    )
    .with_context(|| format!("installing {spec} from PyPI failed"))?;
    std::fs::write(&stamp, spec)?;
    Ok(venv)
}
