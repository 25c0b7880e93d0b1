//! `cargo xtask pins --outdated`: each crate of the pin table that has a
//! newer release on crates.io which semver lets it take, and why it is held
//! back. A release that needs a newer Rust than both the pinned release
//! and the workspace's `rust-version` is its own reason; any other is
//! written in [`HELD_FILE`]. A crate behind with no reason fails the
//! command, and so does a reason for a crate that is not behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use cargo_metadata::semver::{BuildMetadata, Version, VersionReq};
use serde::Deserialize;
use tokio::process::Command;

use crate::repo::{self, relative};

/// Why a pin stays behind its newest compatible release.
pub const HELD_FILE: &str = "pins-held.toml";

/// The sparse index that Cargo itself reads: one file per crate, one JSON
/// object per release.
const INDEX: &str = "https://index.crates.io";

/// How many index files are fetched at once.
const AT_ONCE: usize = 8;

/// One release of a crate, as the index describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Release {
    #[serde(rename = "vers")]
    pub version: Version,
    #[serde(default)]
    pub yanked: bool,
    /// The Rust it needs (`rust-version` of its manifest), when it says.
    #[serde(default)]
    pub rust_version: Option<String>,
}

impl Release {
    /// The Rust version it needs, when it says.
    fn needs_rust(&self) -> Option<Version> {
        rust_version(self.rust_version.as_deref()?)
    }
}

/// A `rust-version` as a version: `1.89` reads as `1.89.0`.
fn rust_version(text: &str) -> Option<Version> {
    let padded = match text.matches('.').count() {
        0 => format!("{text}.0.0"),
        1 => format!("{text}.0"),
        _ => text.to_owned(),
    };
    Version::parse(&padded).ok()
}

#[derive(Deserialize)]
struct HeldFile {
    #[serde(default)]
    held: Vec<Held>,
}

/// A pin kept behind on purpose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    #[serde(rename = "crate")]
    pub name: String,
    pub reason: String,
}

/// A pinned crate and what crates.io has beyond it.
#[derive(Debug, PartialEq, Eq)]
pub struct Standing {
    pub name: String,
    pub pinned: Version,
    /// The newest release semver lets the pin take, when newer than it.
    pub compatible: Option<Version>,
    /// The newest release of all, when it is of a later line than the pin.
    pub later_line: Option<Version>,
    /// Why the pin stays where it is, when it is behind.
    pub reason: Option<String>,
}

/// The command: fetches the index, prints the table, fails on a pin that is
/// behind without a reason or a reason that holds nothing back.
pub async fn run() -> Result<()> {
    let root = repo::root();
    let pins = super::table()?;
    let rust = workspace_rust_version(&root)?;
    let held = held(&root)?;
    println!(
        "pins: reading {} crates from {INDEX}, {AT_ONCE} at a time",
        pins.len()
    );
    let releases = fetch_all(pins.keys().cloned().collect()).await?;
    let Judged {
        standings,
        problems,
    } = judge(&pins, &releases, &held, &rust)?;
    print!("{}", table(&standings));
    if !problems.is_empty() {
        bail!(
            "{} pin problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let behind = standings.iter().filter(|s| s.compatible.is_some()).count();
    println!(
        "pins: {} crates, {behind} behind their newest compatible release, each with its reason",
        pins.len()
    );
    Ok(())
}

/// The workspace's `rust-version`, the oldest Rust the book supports.
fn workspace_rust_version(root: &Path) -> Result<Version> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", relative(&path)))?;
    let doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", relative(&path)))?;
    let written = doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(toml::Value::as_str)
        .with_context(|| {
            format!(
                "{} has no [workspace.package] rust-version",
                relative(&path)
            )
        })?;
    rust_version(written).with_context(|| {
        format!(
            "{}: rust-version {written:?} is not a version",
            relative(&path)
        )
    })
}

/// The reasons file, checked: a reason each, one entry per crate.
pub fn held(root: &Path) -> Result<BTreeMap<String, String>> {
    let path = root.join(HELD_FILE);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path)?;
    let file: HeldFile = toml::from_str(&text).with_context(|| {
        format!("{HELD_FILE} is not valid: each [[held]] needs `crate` and `reason`")
    })?;
    let mut reasons = BTreeMap::new();
    for entry in file.held {
        if entry.reason.trim().is_empty() {
            bail!("{HELD_FILE}: `{}` needs a reason", entry.name);
        }
        if reasons.insert(entry.name.clone(), entry.reason).is_some() {
            bail!("{HELD_FILE}: `{}` is held twice", entry.name);
        }
    }
    Ok(reasons)
}

/// Each pin's standing, and what is wrong: a pin behind with no reason, a
/// written reason for a pin that is not behind or not in the table, a pin
/// crates.io does not have.
pub fn judge(
    pins: &BTreeMap<String, String>,
    releases: &BTreeMap<String, Vec<Release>>,
    held: &BTreeMap<String, String>,
    rust: &Version,
) -> Result<Judged> {
    let mut standings = Vec::new();
    let mut problems = Vec::new();
    for (name, pinned) in pins {
        let pinned = Version::parse(pinned)
            .with_context(|| format!("`{name} = \"={pinned}\"` is not a version"))?;
        // Cargo ignores build metadata: `=1.2.2` is `1.2.2+spec-1.1.0`.
        let all: Vec<Release> = releases
            .get(name)
            .into_iter()
            .flatten()
            .map(|r| Release {
                version: Version {
                    build: BuildMetadata::EMPTY,
                    ..r.version.clone()
                },
                ..r.clone()
            })
            .collect();
        let Some(own) = all.iter().find(|r| r.version == pinned) else {
            problems.push(format!(
                "{name} {pinned} is not on crates.io (a typo, or a crate from another registry)"
            ));
            continue;
        };
        // A pin may itself need a newer Rust than the workspace's (the
        // examples that use it say so in their own `rust-version`); a release
        // needing no more than the pin does is as buildable.
        let ceiling = own
            .needs_rust()
            .map_or(rust.clone(), |needs| needs.max(rust.clone()));
        let usable: Vec<&Release> = all
            .iter()
            .filter(|r| !r.yanked && r.version.pre.is_empty())
            .collect();
        let same_line = VersionReq::parse(&format!("^{pinned}"))
            .with_context(|| format!("{name} {pinned}"))?;
        let newest_compatible = usable
            .iter()
            .filter(|r| same_line.matches(&r.version) && r.version > pinned)
            .max_by(|a, b| a.version.cmp(&b.version));
        let later_line = usable
            .iter()
            .map(|r| &r.version)
            .filter(|v| !same_line.matches(v) && **v > pinned)
            .max()
            .cloned();
        let written = held.get(name).cloned();
        let reason = match newest_compatible {
            None => {
                if written.is_some() {
                    problems.push(format!(
                        "{HELD_FILE} holds back {name}, but {pinned} is its newest \
                         compatible release: remove the entry"
                    ));
                }
                None
            }
            Some(newest) => {
                // The newest release this Rust can build, on the pin's line.
                let buildable = usable
                    .iter()
                    .filter(|r| same_line.matches(&r.version) && r.version >= pinned)
                    .filter(|r| r.needs_rust().is_none_or(|needs| needs <= ceiling))
                    .map(|r| &r.version)
                    .max();
                let by_rust = (buildable == Some(&pinned)).then(|| {
                    let needs = newest.rust_version.as_deref().unwrap_or("?");
                    format!(
                        "{} needs Rust {needs}; the pin builds with Rust {ceiling}",
                        newest.version
                    )
                });
                match (by_rust, written) {
                    (Some(auto), _) => Some(auto),
                    (None, Some(written)) => Some(written),
                    (None, None) => {
                        problems.push(format!(
                            "{name} is pinned at {pinned}, and {} is out: update the pin \
                             (`cargo xtask pins --write` after the root Cargo.toml), or say \
                             why not in {HELD_FILE}",
                            buildable.unwrap_or(&newest.version)
                        ));
                        None
                    }
                }
            }
        };
        standings.push(Standing {
            name: name.clone(),
            pinned,
            compatible: newest_compatible.map(|r| r.version.clone()),
            later_line,
            reason,
        });
    }
    for name in held.keys().filter(|name| !pins.contains_key(*name)) {
        problems.push(format!(
            "{HELD_FILE} holds back {name}, which the pin table does not have"
        ));
    }
    Ok(Judged {
        standings,
        problems,
    })
}

/// What [`judge`] found.
#[derive(Debug)]
pub struct Judged {
    pub standings: Vec<Standing>,
    /// What fails the command.
    pub problems: Vec<String>,
}

/// The pins that are behind, and the later lines, as a table.
fn table(standings: &[Standing]) -> String {
    let mut text = String::new();
    let behind: Vec<&Standing> = standings
        .iter()
        .filter(|s| s.compatible.is_some() || s.later_line.is_some())
        .collect();
    if behind.is_empty() {
        return text;
    }
    text += &format!(
        "{:<34} {:<10} {:<12} {:<12} {}\n",
        "crate", "pinned", "compatible", "later line", "why held back"
    );
    for s in behind {
        let shown =
            |v: &Option<Version>| v.as_ref().map_or("-".into(), Version::to_string);
        text += &format!(
            "{:<34} {:<10} {:<12} {:<12} {}\n",
            s.name,
            s.pinned,
            shown(&s.compatible),
            shown(&s.later_line),
            s.reason.as_deref().unwrap_or(if s.compatible.is_some() {
                "NONE"
            } else {
                "-"
            })
        );
    }
    text
}

/// Where the sparse index keeps a crate: `1/a`, `2/ab`, `3/a/abc`,
/// `ab/cd/abcd…`, lower-cased.
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// A crate's releases, from its index file's lines.
pub fn parse_index(name: &str, text: &str) -> Result<Vec<Release>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{INDEX}/{}: line {} is not a release",
                    index_path(name),
                    i + 1
                )
            })
        })
        .collect()
}

/// Every crate's releases, fetched [`AT_ONCE`] at a time with curl: the
/// xtask's HTTP client has no TLS, and Cargo has no command that prints a
/// crate's releases as data.
async fn fetch_all(names: Vec<String>) -> Result<BTreeMap<String, Vec<Release>>> {
    if which::which("curl").is_err() {
        bail!(
            "`cargo xtask pins --outdated` reads crates.io with curl: install it (apt-get install curl)"
        );
    }
    let mut pending = names.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut releases = BTreeMap::new();
    loop {
        while running.len() < AT_ONCE {
            let Some(name) = pending.next() else { break };
            running.spawn(async move {
                let fetched = fetch(&name).await;
                (name, fetched)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (name, fetched) = joined.context("fetching the index")?;
        releases.insert(name, fetched?);
    }
    Ok(releases)
}

async fn fetch(name: &str) -> Result<Vec<Release>> {
    let url = format!("{INDEX}/{}", index_path(name));
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--location"])
        .args(["--max-time", "30", "--retry", "2", &url])
        .stdin(Stdio::null())
        .output()
        .await
        .context("running curl")?;
    if !output.status.success() {
        bail!(
            "cannot read {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_index(name, &String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests;
