//! The `{placeholders}` of a scenario: in the processes' `env` and in the
//! Envoy configurations the processes name. Each must be defined where it
//! is used, or loading fails with the list of those that are.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::{ADDRESSES, PLACEHOLDERS, Scenario};
use crate::repo::relative;
use crate::services::envoy;

/// The `{name}` placeholders in `value`: braces around a name of letters,
/// digits, `_`, `-` and `.` (JSON such as `{"a": 1}` is not one, nor is
/// YAML's `{ a: 1 }`).
pub fn placeholders(value: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
            .unwrap_or(after.len());
        if end > 0 && after[end..].starts_with('}') {
            found.push(&after[..end]);
        }
        rest = after;
    }
    found
}

/// What the `i`-th process may use: the common placeholders, the needs',
/// and the address and port of each server started before it.
fn known(scenario: &Scenario, i: usize) -> Vec<String> {
    let mut known: Vec<String> =
        PLACEHOLDERS.iter().map(|p| (*p).to_owned()).collect();
    known.extend(ADDRESSES.iter().map(|a| format!("{a}.port")));
    for need in &scenario.needs {
        known.extend(need.placeholders().iter().map(|p| (*p).to_owned()));
    }
    for earlier in scenario.process[..i].iter().filter(|p| !p.until_exit) {
        known.push(format!("{}.url", earlier.name));
        known.push(format!("{}.port", earlier.name));
    }
    known
}

fn listed(known: &[String]) -> String {
    let braced: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
    braced.join(", ")
}

/// Every placeholder of every process's `env` is defined for it.
pub(super) fn check_env(scenario: &Scenario) -> Result<()> {
    for (i, p) in scenario.process.iter().enumerate() {
        let known = known(scenario, i);
        for (key, value) in &p.env {
            for placeholder in placeholders(value) {
                if !known.iter().any(|k| k == placeholder) {
                    bail!(
                        "[[process]] {:?}: env {key} uses {{{placeholder}}}, which nothing \
                         defines; known here: {}",
                        p.name,
                        listed(&known)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every Envoy configuration exists (beside the scenario, in `dir`) and
/// each of its placeholders is defined for its process; errors give the
/// file and line.
pub(super) fn check_envoy_configs(scenario: &Scenario, dir: &Path) -> Result<()> {
    for (i, p) in scenario.process.iter().enumerate() {
        let Some(config) = &p.envoy else { continue };
        let path = dir.join(config);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "[[process]] {:?}: cannot read its Envoy configuration {}",
                p.name,
                relative(&path)
            )
        })?;
        let mut known = known(scenario, i);
        known.extend(envoy::CONFIG_PLACEHOLDERS.iter().map(|p| (*p).to_owned()));
        for (n, line) in text.lines().enumerate() {
            for placeholder in placeholders(line) {
                if !known.iter().any(|k| k == placeholder) {
                    bail!(
                        "{}:{}: {{{placeholder}}} is defined nowhere; known in [[process]] \
                         {:?}'s configuration: {}",
                        relative(&path),
                        n + 1,
                        p.name,
                        listed(&known)
                    );
                }
            }
        }
    }
    Ok(())
}
