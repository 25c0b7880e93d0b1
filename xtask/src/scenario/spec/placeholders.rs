//! The `{placeholders}` of a scenario: in the processes' `env` and in the
//! Envoy configurations the processes name. Each must be defined where it
//! is used, or loading fails with the list of those that are.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::{ADDRESSES, Kind, PLACEHOLDERS, Scenario};
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
/// the address and port of each server started before it, and those of
/// every Envoy (their ports are chosen before any process starts).
fn known(scenario: &Scenario, i: usize) -> Vec<String> {
    let mut known: Vec<String> =
        PLACEHOLDERS.iter().map(|p| (*p).to_owned()).collect();
    known.extend(ADDRESSES.iter().map(|a| format!("{a}.port")));
    for need in &scenario.needs {
        known.extend(need.placeholders().iter().map(|p| (*p).to_owned()));
    }
    for (j, p) in scenario.process.iter().enumerate() {
        if let Kind::Envoy { ports, .. } = &p.kind {
            let extra = ports.iter().map(|port| format!("{}.{port}", p.name));
            for listener in std::iter::once(p.name.clone()).chain(extra) {
                known.push(format!("{listener}.url"));
                known.push(format!("{listener}.port"));
            }
        } else if j < i && p.serves() {
            known.push(format!("{}.url", p.name));
            known.push(format!("{}.port", p.name));
        }
    }
    known
}

fn listed(known: &[String]) -> String {
    let braced: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
    braced.join(", ")
}

/// The first placeholder of `value` that is not in `known`.
fn unknown<'a>(value: &'a str, known: &[String]) -> Option<&'a str> {
    placeholders(value)
        .into_iter()
        .find(|placeholder| !known.iter().any(|k| k == placeholder))
}

/// Every placeholder of every process's `env` and `vars` is defined for
/// it.
pub(super) fn check_env(scenario: &Scenario) -> Result<()> {
    for (i, p) in scenario.process.iter().enumerate() {
        let known = known(scenario, i);
        let vars = match &p.kind {
            Kind::Envoy { vars, .. } => Some(vars),
            _ => None,
        };
        for (what, map) in [("env", Some(&p.env)), ("vars", vars)] {
            let Some(map) = map else { continue };
            for (key, value) in map {
                if let Some(placeholder) = unknown(value, &known) {
                    bail!(
                        "[[process]] {:?}: {what} {key} uses {{{placeholder}}}, which \
                         nothing defines; known here: {}",
                        p.name,
                        listed(&known)
                    );
                }
            }
        }
    }
    Ok(())
}

/// What an Envoy's configuration may use besides what its process may:
/// its ports and its vars.
pub fn envoy_own(ports: &[String], vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut own: Vec<String> = envoy::CONFIG_PLACEHOLDERS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    own.extend(ports.iter().map(|port| format!("{port}_port")));
    own.extend(vars.keys().cloned());
    own
}

/// Every Envoy configuration exists (beside the scenario, in `dir`) and
/// each of its placeholders is defined for its process; errors give the
/// file and line.
pub(super) fn check_envoy_configs(scenario: &Scenario, dir: &Path) -> Result<()> {
    for (i, p) in scenario.process.iter().enumerate() {
        let Kind::Envoy {
            config,
            ports,
            vars,
        } = &p.kind
        else {
            continue;
        };
        let path = dir.join(config);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "[[process]] {:?}: cannot read its Envoy configuration {}",
                p.name,
                relative(&path)
            )
        })?;
        let mut known = known(scenario, i);
        known.extend(envoy_own(ports, vars));
        for (n, line) in text.lines().enumerate() {
            if let Some(placeholder) = unknown(line, &known) {
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
    Ok(())
}
