//! Ground: where things are. The repository root, Cargo's target directory,
//! the examples and what their manifests say, the lock file, and the paths of
//! the files the book generates from them. Depends on nothing else here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

mod shard;
pub use shard::Shard;

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

/// `examples/<slug>/`: one crate per chapter.
#[derive(Debug, Clone)]
pub struct Example {
    pub slug: String,
    pub dir: PathBuf,
    /// The package name, `example-<slug>`.
    pub package: String,
}

impl Example {
    /// `scenario.toml`: how the example runs and what it must emit.
    pub fn scenario_path(&self) -> PathBuf {
        self.dir.join("scenario.toml")
    }

    /// `cases.toml`: programs that run to completion, and what each must do.
    pub fn cases_path(&self) -> PathBuf {
        self.dir.join("cases.toml")
    }

    /// `book/src/generated/<slug>.txt`: the normalised trace tree of a run.
    pub fn snapshot_path(&self) -> PathBuf {
        generated_dir().join(format!("{}.txt", self.slug))
    }

    /// `book/src/generated/<slug>.svg`: the same run as a waterfall.
    pub fn waterfall_path(&self) -> PathBuf {
        generated_dir().join(format!("{}.svg", self.slug))
    }

    /// `book/src/generated/<slug>.map.svg`: the same run's service map.
    pub fn map_path(&self) -> PathBuf {
        generated_dir().join(format!("{}.map.svg", self.slug))
    }

    /// The example's `Cargo.toml` and those of packages nested in it (a
    /// front end, a second service, a crate that must lack a feature).
    pub fn manifests(&self) -> Result<Vec<PathBuf>> {
        let mut nested = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", relative(&self.dir)))?
        {
            let manifest = entry?.path().join("Cargo.toml");
            if manifest.exists() {
                nested.push(manifest);
            }
        }
        nested.sort();
        let mut manifests = vec![self.dir.join("Cargo.toml")];
        manifests.extend(nested);
        Ok(manifests)
    }

    /// The packages of the example that run natively: its own and any
    /// nested one that does not declare a browser target (a second service).
    pub fn server_packages(&self) -> Result<Vec<String>> {
        let mut packages = vec![self.package.clone()];
        for manifest in self.manifests()?.into_iter().skip(1) {
            let package = Manifest::read(&manifest)?.package;
            if package.metadata.book.target.is_none() {
                packages.push(package.name);
            }
        }
        Ok(packages)
    }
}

/// `book/src/generated`: what the xtask writes for the chapters to include.
pub fn generated_dir() -> PathBuf {
    root().join("book/src/generated")
}

/// What the xtask reads from a crate's `Cargo.toml`.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub package: Package,
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "dev-dependencies")]
    pub dev_dependencies: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "build-dependencies")]
    pub build_dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub name: String,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub book: BookMetadata,
}

/// `[package.metadata.book]`: how the book builds a crate that is not a
/// native server.
#[derive(Debug, Default, Deserialize)]
pub struct BookMetadata {
    /// A browser front end says `wasm32-unknown-unknown`.
    pub target: Option<String>,
    /// Built with these features and without the default ones.
    #[serde(default)]
    pub features: Vec<String>,
}

impl Manifest {
    /// Reads and parses `path`; errors name the file.
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", relative(path)))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a package manifest", relative(path)))
    }

    /// The names of every dependency, in all three tables.
    pub fn dependency_names(&self) -> impl Iterator<Item = &String> {
        self.dependencies
            .keys()
            .chain(self.dev_dependencies.keys())
            .chain(self.build_dependencies.keys())
    }
}

/// Every `examples/<slug>/` with a `Cargo.toml`, sorted by slug.
pub fn examples() -> Result<Vec<Example>> {
    examples_in(&root())
}

/// The examples of the repository at `root`.
pub fn examples_in(root: &Path) -> Result<Vec<Example>> {
    let dir = root.join("examples");
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
        examples.push(Example {
            slug,
            package: Manifest::read(&manifest)?.package.name,
            dir: path,
        });
    }
    examples.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok(examples)
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

/// Which part of the workspace the per-package steps cover.
#[derive(Debug, Clone, Default)]
pub enum Selection {
    /// Everything.
    #[default]
    All,
    /// One example (`--example SLUG`); clippy and the tests still cover
    /// the whole workspace.
    Example(String),
    /// A slice for one job of hosted CI (`--shard K/N`).
    Shard(Shard),
}

/// What a [`Selection`] covers.
#[derive(Debug)]
pub struct Chosen {
    pub examples: Vec<Example>,
    /// The packages clippy and the tests cover; `None`: the workspace.
    pub packages: Option<Vec<String>>,
}

impl Selection {
    /// The examples and packages it covers.
    pub fn chosen(&self) -> Result<Chosen> {
        Ok(match self {
            Selection::All => Chosen {
                examples: examples()?,
                packages: None,
            },
            Selection::Example(slug) => Chosen {
                examples: vec![example(slug)?],
                packages: None,
            },
            Selection::Shard(shard) => {
                let slice = shard.slice()?;
                Chosen {
                    examples: slice.examples,
                    packages: Some(slice.packages),
                }
            }
        })
    }
}

/// Every (crate, version) in `Cargo.lock`.
pub fn locked() -> Result<Vec<(String, String)>> {
    locked_in(&root())
}

/// Every (crate, version) in the `Cargo.lock` of the workspace at `root`.
pub fn locked_in(root: &Path) -> Result<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<LockedPackage>,
    }
    #[derive(Deserialize)]
    struct LockedPackage {
        name: String,
        version: String,
    }
    let path = root.join("Cargo.lock");
    let text = std::fs::read_to_string(&path).context(
        "cannot read Cargo.lock; it must be committed (run `cargo generate-lockfile`)",
    )?;
    let lock: Lock = toml::from_str(&text).context("Cargo.lock is not valid")?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| (p.name, p.version))
        .collect())
}

/// The binary targets of these workspace packages, as `cargo metadata`
/// lists them (`src/main.rs`, `src/bin/*`, `[[bin]]`).
pub fn binaries_of(packages: &[String]) -> Result<Vec<String>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("`cargo metadata --no-deps` failed while listing binaries")?;
    let mut bins = Vec::new();
    for package in packages {
        let found = metadata
            .packages
            .iter()
            .find(|p| &p.name == package)
            .with_context(|| {
                format!("{package} is not a package of the workspace")
            })?;
        bins.extend(
            found
                .targets
                .iter()
                .filter(|t| t.is_bin())
                .map(|t| t.name.clone()),
        );
    }
    Ok(bins)
}

/// The directory of the package `name` at `version` among the workspace's
/// dependencies, as `cargo metadata` reports it. Cargo downloads the
/// package into its home if no earlier build has, so this works on a
/// machine that has never built the workspace.
pub fn package_dir(name: &str, version: &str) -> Result<PathBuf> {
    Ok(package_dirs(&[(name, version)])?.remove(0))
}

/// [`package_dir`] of several packages, with one `cargo metadata`.
pub fn package_dirs(packages: &[(&str, &str)]) -> Result<Vec<PathBuf>> {
    let mut command = cargo_metadata::MetadataCommand::new();
    command.manifest_path(root().join("Cargo.toml"));
    package_dirs_with(command, packages, &["--locked"])
}

/// [`package_dirs`] with a prepared `cargo metadata` command (another
/// manifest, another Cargo home) and extra options.
fn package_dirs_with(
    mut command: cargo_metadata::MetadataCommand,
    packages: &[(&str, &str)],
    options: &[&str],
) -> Result<Vec<PathBuf>> {
    // Only the packages this machine builds: the Windows and macOS crates
    // would be downloaded for nothing.
    let mut options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
    options.extend(["--filter-platform".to_owned(), host_target()?]);
    let names: Vec<String> =
        packages.iter().map(|(n, v)| format!("{n} {v}")).collect();
    let metadata = command.other_options(options).exec().with_context(|| {
        format!(
            "`cargo metadata` failed while looking for {}",
            names.join(", ")
        )
    })?;
    packages
        .iter()
        .map(|&(name, version)| {
            let package = metadata
                .packages
                .iter()
                .find(|p| p.name == name && p.version.to_string() == version)
                .with_context(|| {
                    format!(
                        "{name} {version} is not among the workspace's dependencies"
                    )
                })?;
            let dir = package.manifest_path.parent().with_context(|| {
                format!("{} has no directory", package.manifest_path)
            })?;
            Ok(dir.as_std_path().to_path_buf())
        })
        .collect()
}

/// The target this machine builds for (`rustc -vV`'s `host:` line).
fn host_target() -> Result<String> {
    let output = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot run `rustc -vV`: is Rust installed with rustup?")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` printed no `host:` line")
}

#[cfg(test)]
mod tests {
    use super::package_dirs_with;

    /// The regression that reached a fresh machine: a crate's source was
    /// looked for in `~/.cargo/registry/src`, which only a machine that had
    /// built the workspace has. With an empty Cargo home, `cargo metadata`
    /// downloads it.
    #[test]
    fn a_package_is_found_with_an_empty_cargo_home() {
        let home = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("src")).unwrap();
        std::fs::write(project.path().join("src/lib.rs"), "").unwrap();
        std::fs::write(
            project.path().join("Cargo.toml"),
            "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nitoa = \"=1.0.15\"\n",
        )
        .unwrap();
        // `cargo metadata` of the probe, with `home` as Cargo's home.
        let command_in = |home: &std::path::Path| {
            let mut command = cargo_metadata::MetadataCommand::new();
            command
                .manifest_path(project.path().join("Cargo.toml"))
                .env("CARGO_HOME", home);
            command
        };
        let dir =
            package_dirs_with(command_in(home.path()), &[("itoa", "1.0.15")], &[])
                .unwrap()
                .remove(0);
        assert!(
            dir.starts_with(home.path()),
            "{} is not in the new home",
            dir.display()
        );
        assert!(dir.join("src/lib.rs").is_file());
        let missing = tempfile::tempdir().unwrap();
        let command = command_in(missing.path());
        let error =
            package_dirs_with(command, &[("itoa", "1.0.14")], &[]).unwrap_err();
        assert!(
            format!("{error:#}")
                .contains("is not among the workspace's dependencies"),
            "{error:#}"
        );
    }
}
