//! The docker stacks, checked without an engine: each Compose file is valid
//! for the Compose client, pins every image to a version, and its Grafana
//! dashboards are JSON.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::repo::relative;
use crate::services::docker::{compose_client, stacks};

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
    use super::unpinned_images;
    use std::path::Path;

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
