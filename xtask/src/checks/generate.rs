//! `cargo xtask gen` writes the files every example shares from the templates
//! in `xtask/templates/`; `cargo xtask new` scaffolds a whole example.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{ecosystem, performance, pins};
use crate::repo::{self, relative};
use crate::semconv;
use crate::text::unified_diff;

/// The telemetry set-up every example compiles.
const TELEMETRY: &str = include_str!("../../templates/telemetry.rs");
/// Part of the telemetry module wherever it is: the check of the variables.
const TELEMETRY_CONFIG: &str = include_str!("../../templates/telemetry_config.rs");
/// Only where a framework installs the subscriber (Bevy).
const TELEMETRY_LAYERS: &str = include_str!("../../templates/telemetry_layers.rs");
/// Only where a process relays another part's spans (Tauri).
const TELEMETRY_RELAY: &str = include_str!("../../templates/telemetry_relay.rs");
/// Only where the console prints JSON lines (the Kubernetes operator).
const TELEMETRY_JSON: &str = include_str!("../../templates/telemetry_json.rs");
/// Listening and graceful shutdown, for the examples that serve HTTP.
const SERVER: &str = include_str!("../../templates/server.rs");
const HTTP: &str = include_str!("../../templates/http.rs");
/// The browser's tracer provider, OTLP/JSON exporter and traced `fetch`.
const BROWSER: &str = include_str!("../../templates/browser.rs");
/// The server half of the browser examples: the front end's files, the
/// browser's endpoint.
const FRONT_END: &str = include_str!("../../templates/front_end.rs");
/// The in-memory recording that the examples' tests share.
const RECORDED: &str = include_str!("../../templates/recorded.rs");

const NEW_CARGO_TOML: &str = include_str!("../../templates/example/Cargo.toml");
const NEW_MAIN: &str = include_str!("../../templates/example/main.rs");
const NEW_LIB: &str = include_str!("../../templates/example/lib.rs");
const NEW_SCENARIO: &str = include_str!("../../templates/example/scenario.toml");
const NEW_README: &str = include_str!("../../templates/example/README.md");

/// A file that `gen` owns, with the content it must have.
pub struct Generated {
    pub path: PathBuf,
    pub content: String,
}

/// Every generated file of the repository: each example's (and the bench
/// service's) `src/telemetry.rs` with its `src/telemetry_config.rs`,
/// `src/server.rs`, `src/http.rs` and `tests/recorded/mod.rs` where it has
/// them (`cargo xtask new` scaffolds the first four; an example that serves
/// no HTTP, or shows the SDK's raw set-up on purpose, deletes what it does
/// not use), the telemetry module's optional parts (`layers_with`, `relay`,
/// the JSON console) where an example added them, the book's
/// appendix of pinned versions, the semantic-conventions registry
/// table made from the pinned crate, and the overhead table and chart made
/// from the overhead bench's record.
pub fn all() -> Result<Vec<Generated>> {
    let semconv_version = pins::table()?
        .get(semconv::registry::CRATE)
        .cloned()
        .with_context(|| {
            format!("{} is not in the pin table", semconv::registry::CRATE)
        })?;
    let semconv_entries =
        semconv::source::read(&semconv::source::crate_source(&semconv_version)?)?;
    let mut files = vec![
        Generated {
            path: repo::root().join(ecosystem::PAGE),
            content: ecosystem::render()?,
        },
        Generated {
            path: repo::root().join(semconv::registry::PATH),
            content: semconv::registry::render(&semconv_entries, &semconv_version),
        },
        Generated {
            path: repo::root().join(OWN_NAMESPACES),
            content: own_namespaces()?,
        },
    ];
    files.push(Generated {
        path: repo::generated_dir().join(super::backoff::NAME),
        content: super::backoff::picture()?,
    });
    files.extend(
        super::diagrams::all()?
            .into_iter()
            .map(|(path, content)| Generated { path, content }),
    );
    if let Some(record) = performance::read()? {
        files.push(Generated {
            path: repo::root().join(performance::TABLE),
            content: performance::table(&record),
        });
        files.push(Generated {
            path: repo::root().join(performance::CHART),
            content: performance::chart(&record),
        });
    }
    // The bench service compiles the same modules, so the overhead bench
    // measures what the examples run.
    let dirs = repo::examples()?
        .into_iter()
        .map(|example| example.dir)
        .chain([repo::root().join(BENCH_SERVICE)]);
    for dir in dirs {
        for (name, template) in SHARED {
            let path = dir.join(name);
            if path.exists() {
                files.push(Generated {
                    path,
                    content: (*template).to_owned(),
                });
            }
        }
    }
    Ok(files)
}

/// The table of the names each example declares as its own, for the
/// appendix on semantic conventions.
pub const OWN_NAMESPACES: &str = "book/src/generated/own-namespaces.md";

fn own_namespaces() -> Result<String> {
    let mut out = String::from(
        "<!-- Generated by `cargo xtask gen` from each example's scenario.toml. Do not edit. -->\n\n\
         | example | its own names (`own_attributes`) |\n|---|---|\n",
    );
    for example in repo::examples()? {
        let path = example.scenario_path();
        if !path.exists() {
            continue;
        }
        let scenario = crate::scenario::spec::load(&path)?;
        let own: Vec<String> = scenario
            .own_attributes
            .iter()
            .map(|o| format!("`{o}`"))
            .collect();
        out += &format!(
            "| `{}` | {} |\n",
            example.slug,
            if own.is_empty() {
                "none: convention names only".to_owned()
            } else {
                own.join(", ")
            }
        );
    }
    Ok(out)
}

/// The files every example may share, each generated from one template.
/// The crate behind `cargo xtask bench overhead`.
pub const BENCH_SERVICE: &str = "bench";

const SHARED: &[(&str, &str)] = &[
    ("src/telemetry.rs", TELEMETRY),
    ("src/telemetry_config.rs", TELEMETRY_CONFIG),
    ("src/telemetry_layers.rs", TELEMETRY_LAYERS),
    ("src/telemetry_relay.rs", TELEMETRY_RELAY),
    ("src/telemetry_json.rs", TELEMETRY_JSON),
    ("src/server.rs", SERVER),
    ("src/http.rs", HTTP),
    ("src/browser.rs", BROWSER),
    ("src/front_end.rs", FRONT_END),
    ("web/src/browser.rs", BROWSER),
    ("tests/recorded/mod.rs", RECORDED),
];

/// Writes every generated file whose content differs.
pub fn write() -> Result<()> {
    for file in all()? {
        let current = std::fs::read_to_string(&file.path).unwrap_or_default();
        if current != file.content {
            if let Some(dir) = file.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&file.path, &file.content)
                .with_context(|| format!("cannot write {}", relative(&file.path)))?;
            println!("wrote {}", relative(&file.path));
        }
    }
    Ok(())
}

/// Generated files that are missing, stale or edited by hand.
pub fn stale() -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in all()? {
        match std::fs::read_to_string(&file.path) {
            Err(_) => problems.push(format!(
                "{} is missing (run `cargo xtask gen`)",
                relative(&file.path)
            )),
            Ok(current) if current != file.content => problems.push(format!(
                "{} is stale: {}; run `cargo xtask gen`\n{}",
                relative(&file.path),
                if file.path.ends_with(ecosystem::PAGE) {
                    "a pin, a chapter or an example changed since it was generated"
                } else if file.path.ends_with(semconv::registry::PATH) {
                    "the pinned semantic-conventions crate changed since it was generated"
                } else if file.path.ends_with(OWN_NAMESPACES) {
                    "an example's own_attributes changed since it was generated"
                } else {
                    "it was edited by hand (edit the template in xtask/templates/), \
                     or the template changed"
                },
                unified_diff(&current, &file.content, &relative(&file.path))
            )),
            Ok(_) => {}
        }
    }
    Ok(problems)
}

/// Scaffolds `examples/<slug>/`: a pinned `Cargo.toml`, generated telemetry, a
/// `main.rs` that serves one traced route, a passing scenario, a README, and a
/// draft chapter entry in the book's `SUMMARY.md`.
pub fn new_example(slug: &str) -> Result<PathBuf> {
    new_example_in(&repo::root(), slug)
}

/// As [`new_example`], in the workspace at `root`.
pub fn new_example_in(root: &Path, slug: &str) -> Result<PathBuf> {
    let valid = !slug.is_empty()
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !valid {
        bail!(
            "{slug:?} is not a valid slug: use lower-case letters, digits and dashes, e.g. `circuit-breaker`"
        );
    }
    let dir = root.join("examples").join(slug);
    if dir.exists() {
        bail!("{} already exists", relative(&dir));
    }
    let pins = pins::table_in(root)?;
    let fill = |template: &str| render(template, slug, &pins);
    let files = [
        ("Cargo.toml", fill(NEW_CARGO_TOML)?),
        ("src/main.rs", fill(NEW_MAIN)?),
        ("src/lib.rs", fill(NEW_LIB)?),
        ("src/telemetry.rs", TELEMETRY.to_owned()),
        ("src/telemetry_config.rs", TELEMETRY_CONFIG.to_owned()),
        ("src/server.rs", SERVER.to_owned()),
        ("src/http.rs", HTTP.to_owned()),
        ("scenario.toml", fill(NEW_SCENARIO)?),
        ("README.md", fill(NEW_README)?),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", relative(&path)))?;
        println!("wrote {}", relative(&path));
    }
    add_draft_chapter(&root.join("book/src/SUMMARY.md"), slug)?;
    Ok(dir)
}

/// Replaces `{{slug}}`, `{{crate}}`, `{{title}}` and `{{version:CRATE}}` placeholders.
fn render(
    template: &str,
    slug: &str,
    pins: &std::collections::BTreeMap<String, String>,
) -> Result<String> {
    let mut out = template
        .replace("{{slug}}", slug)
        .replace("{{crate}}", &slug.replace('-', "_"))
        .replace("{{title}}", &title(slug));
    while let Some(start) = out.find("{{version:") {
        let end = out[start..]
            .find("}}")
            .map(|e| start + e)
            .context("unclosed {{version:...}} in a template")?;
        let name = &out[start + "{{version:".len()..end];
        let version = pins.get(name).with_context(|| {
            format!("template asks for `{name}`, which is not in the pin table")
        })?;
        out.replace_range(start..end + 2, &format!("={version}"));
    }
    Ok(out)
}

fn title(slug: &str) -> String {
    slug.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => {
                    first.to_uppercase().collect::<String>() + chars.as_str()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds `- [Title]()` (an mdBook draft: listed, greyed out, no page) unless
/// the slug is already mentioned.
fn add_draft_chapter(summary: &Path, slug: &str) -> Result<()> {
    let text = std::fs::read_to_string(summary)
        .with_context(|| format!("cannot read {}", relative(summary)))?;
    if text.contains(slug) {
        return Ok(());
    }
    // A planned chapter of the same title is already a draft: keep its place.
    let draft = format!("- [{}]()", title(slug)).to_lowercase();
    if text.lines().any(|line| line.trim().to_lowercase() == draft) {
        println!(
            "{} already lists {:?} as a draft; write the chapter there",
            relative(summary),
            title(slug)
        );
        return Ok(());
    }
    let mut text = text.trim_end().to_owned();
    text += &format!("\n- [{}]() <!-- examples/{slug} -->\n", title(slug));
    std::fs::write(summary, text)?;
    println!("added a draft chapter for {slug} to {}", relative(summary));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_scaffolds_a_pinned_example_and_a_draft_chapter() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().to_owned();
        std::fs::create_dir_all(root.join("book/src")).unwrap();
        std::fs::copy(repo::root().join("Cargo.toml"), root.join("Cargo.toml"))
            .unwrap();
        std::fs::write(root.join("book/src/SUMMARY.md"), "# Summary\n").unwrap();

        let dir = new_example_in(&root, "retry-backoff").unwrap();

        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"example-retry-backoff\""));
        let pins = pins::table_in(&root).unwrap();
        assert!(
            manifest
                .contains(&format!("tokio = {{ version = \"={}\"", pins["tokio"]))
        );
        for file in [
            "Cargo.toml",
            "src/main.rs",
            "src/lib.rs",
            "scenario.toml",
            "README.md",
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
        }
        assert!(
            std::fs::read_to_string(dir.join("src/main.rs"))
                .unwrap()
                .contains("example_retry_backoff::app(meter)")
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("src/telemetry.rs")).unwrap(),
            TELEMETRY
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("src/http.rs")).unwrap(),
            HTTP
        );
        crate::scenario::spec::load(&dir.join("scenario.toml")).unwrap();
        let summary =
            std::fs::read_to_string(root.join("book/src/SUMMARY.md")).unwrap();
        assert!(
            summary.contains("- [Retry Backoff]() <!-- examples/retry-backoff -->")
        );
        // A planned chapter of that title keeps its place instead.
        std::fs::write(
            root.join("book/src/SUMMARY.md"),
            "# S\n- [Strangler Fig]()\n",
        )
        .unwrap();
        new_example_in(&root, "strangler-fig").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("book/src/SUMMARY.md")).unwrap(),
            "# S\n- [Strangler Fig]()\n"
        );

        let again = new_example_in(&root, "retry-backoff")
            .unwrap_err()
            .to_string();
        assert!(again.contains("already exists"), "{again}");
        let bad = new_example_in(&root, "Retry_Backoff")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("not a valid slug"), "{bad}");
    }

    #[test]
    fn renders_versions_from_the_pin_table() {
        let pins = [("tokio".to_owned(), "1.2.3".to_owned())].into();
        assert_eq!(
            render(
                "{{slug}}: tokio = \"{{version:tokio}}\" # {{title}}",
                "retry-backoff",
                &pins
            )
            .unwrap(),
            "retry-backoff: tokio = \"=1.2.3\" # Retry Backoff"
        );
        assert!(render("{{version:serde}}", "x", &pins).is_err());
    }
}
