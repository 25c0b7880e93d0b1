//! The docker stacks under `docker/`: `cargo xtask stack up|down|status
//! [NAME]` where a Docker engine runs, and, everywhere, a static check of
//! what can be checked without one.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::workspace::{self, relative};

/// What to install to validate compose files without an engine.
pub const INSTALL_HINT: &str = "install a Compose client: `docker compose` (Docker) or \
     `docker-compose` (Debian/Ubuntu: apt-get install --no-install-recommends docker-compose)";

/// A stack: a directory of `docker/` with a `compose.yaml`.
pub struct Stack {
    pub name: String,
    pub compose: PathBuf,
}

pub fn stacks() -> Result<Vec<Stack>> {
    let dir = workspace::root().join("docker");
    let mut stacks = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", relative(&dir)))?
    {
        let path = entry?.path();
        let compose = path.join("compose.yaml");
        if compose.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("stack directory names must be UTF-8")?
                .to_owned();
            stacks.push(Stack { name, compose });
        }
    }
    stacks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(stacks)
}

/// The Compose client: `docker compose` (v2) or `docker-compose` (v1).
fn compose_client() -> Option<Vec<String>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

/// Whether a Docker engine answers.
fn engine_running() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Compose client, if a Docker engine answers; else what is missing.
pub fn require_engine() -> Result<Vec<String>> {
    let Some(client) = compose_client() else {
        bail!("no Compose client: {INSTALL_HINT}");
    };
    if !engine_running() {
        bail!(
            "no Docker engine answers here (`docker info` failed). The stacks need \
             Docker with Compose; on this machine, `cargo xtask verify --only stacks` \
             checks them statically, and `cargo xtask verify` without --stack runs \
             the scenarios against the embedded collector"
        );
    }
    Ok(client)
}

/// `cargo xtask stack ACTION [NAME]`.
pub fn run(action: &str, name: Option<&str>) -> Result<()> {
    let all = stacks()?;
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    let chosen: Vec<&Stack> = match name {
        Some(name) => {
            vec![all.iter().find(|s| s.name == name).with_context(|| {
                format!("no stack {name:?}; the stacks are {}", names.join(", "))
            })?]
        }
        None if action == "up" => bail!(
            "name the stack to start: {} (they use the same ports)",
            names.join(", ")
        ),
        None => all.iter().collect(),
    };
    let client = require_engine()?;
    let args: &[&str] = match action {
        "up" => &["up", "--detach", "--wait"],
        "down" => &["down", "--volumes"],
        "status" => &["ps"],
        other => bail!("unknown action {other:?}: up, down or status"),
    };
    for stack in chosen {
        let compose = stack.compose.to_string_lossy().into_owned();
        let mut full: Vec<&str> =
            client.iter().skip(1).map(String::as_str).collect();
        full.extend(["--file", &compose]);
        full.extend(args);
        workspace::run(&client[0], &full)?;
    }
    Ok(())
}

/// The static check: each compose file is valid for the Compose client, and
/// pins every image to a version. `Ok(None)` when there is no client.
pub fn check() -> Result<Option<Vec<String>>> {
    let mut problems = Vec::new();
    for stack in stacks()? {
        let text = std::fs::read_to_string(&stack.compose)?;
        problems.extend(unpinned_images(&stack.compose, &text));
        let dashboards = stack.compose.parent().map(|d| d.join("grafana"));
        if let Some(dir) = dashboards.filter(|d| d.is_dir()) {
            problems.extend(bad_json(&dir)?);
        }
    }
    let Some(client) = compose_client() else {
        return Ok(if problems.is_empty() {
            None
        } else {
            Some(problems)
        });
    };
    for stack in stacks()? {
        let compose = stack.compose.to_string_lossy().into_owned();
        let mut args: Vec<&str> =
            client.iter().skip(1).map(String::as_str).collect();
        args.extend(["--file", &compose, "config", "--quiet"]);
        let output = Command::new(&client[0])
            .args(&args)
            .output()
            .with_context(|| format!("cannot run {}", client[0]))?;
        if !output.status.success() {
            problems.push(format!(
                "{}: {}",
                relative(&stack.compose),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(Some(problems))
}

/// `image:` lines without a tag, or with `latest`.
fn unpinned_images(path: &Path, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let image = line.trim().strip_prefix("image:")?.trim().trim_matches('"');
            let tag = image
                .rsplit_once(':')
                .map(|(_, t)| t)
                .filter(|t| !t.contains('/'));
            match tag {
                Some(tag) if tag != "latest" => None,
                _ => Some(format!(
                    "{}:{}: image {image:?} is not pinned to a version",
                    relative(path),
                    i + 1
                )),
            }
        })
        .collect()
}

/// Grafana dashboards that are not JSON.
fn bad_json(dir: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            problems.extend(bad_json(&path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                problems.push(format!("{}: not JSON: {e}", relative(&path)));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::{engine_running, require_engine, unpinned_images};
    use std::path::Path;

    /// Where no engine runs (this repository's CI), the stack commands say
    /// what is missing and what to run instead.
    #[test]
    fn without_an_engine_the_error_says_what_to_do() {
        if engine_running() {
            return;
        }
        let error = format!("{:#}", require_engine().unwrap_err());
        assert!(
            error.contains("no Compose client")
                || error.contains("no Docker engine"),
            "{error}"
        );
        if error.contains("no Docker engine") {
            assert!(error.contains("--only stacks"), "{error}");
        }
    }

    #[test]
    fn images_need_a_version_tag() {
        let compose = "services:\n  a:\n    image: prom/prometheus:v3.0.1\n  \
                       b:\n    image: grafana/grafana\n  c:\n    image: \"x/y:latest\"\n  \
                       d:\n    image: registry:5000/team/app\n";
        let problems = unpinned_images(Path::new("compose.yaml"), compose);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains(":5:"), "{problems:?}");
        assert!(
            problems[2].contains("registry:5000/team/app"),
            "{problems:?}"
        );
    }
}
