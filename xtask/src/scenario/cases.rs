//! Cases: for examples whose programs run to completion rather than serve,
//! `cases.toml` lists programs, each run once against a fresh embedded
//! collector, with what must happen: how it exits, how many spans arrive, a
//! line it prints, how long it takes. The troubleshooting chapter uses this to
//! show each broken set-up failing and its fix delivering.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;
use tokio::process::Command;

use crate::otlp::collector::Collector;
use crate::proc::{self, Attempt};
use crate::repo;

/// How long spans may take to arrive after the program exited.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(5);
/// How long to keep watching for late spans when none may arrive.
const SETTLE: Duration = Duration::from_millis(300);

/// A `cases.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cases {
    pub case: Vec<Case>,
}

/// One program run and what it must do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in reports and in the book's table.
    pub name: String,
    /// The binary to run.
    pub bin: String,
    /// A package of its own, built alone so that its features are not unified
    /// with the rest of the workspace (for a crate that must lack a feature).
    pub package: Option<String>,
    /// Variables; `{http}`, `{grpc}` become the collector's URLs,
    /// `{http_authority}`, `{grpc_authority}` its `127.0.0.1:PORT`s, and
    /// `{hanging}` the URL of a server that accepts connections and never answers.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `success` or `failure`.
    pub exit: Exit,
    /// Exactly this many spans arrive.
    pub spans: usize,
    /// The program prints a line containing this (stdout or stderr).
    pub output: Option<String>,
    /// The program runs at least this long (a blocking timeout).
    pub min_seconds: Option<f64>,
    /// The program runs at most this long.
    pub max_seconds: Option<f64>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    Success,
    Failure,
}

/// Where a program is killed, whatever the case says.
const HARD_TIMEOUT: Duration = Duration::from_secs(60);

pub fn load(path: &Path) -> Result<Cases> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", repo::relative(path)))?;
    let cases: Cases = toml::from_str(&text).with_context(|| {
        format!("{} is not a valid cases file", repo::relative(path))
    })?;
    if cases.case.is_empty() {
        bail!("{} lists no [[case]]", repo::relative(path));
    }
    Ok(cases)
}

/// Builds the packages that must be built alone (the example's own binaries
/// are built by the caller with the other examples).
pub fn build_separate_packages(cases: &Cases) -> Result<()> {
    let mut done = Vec::new();
    for package in cases.case.iter().filter_map(|c| c.package.as_deref()) {
        if done.contains(&package) {
            continue;
        }
        // Alone: with other packages selected, Cargo would unify their
        // features into this one's dependencies.
        proc::run("cargo", &["build", "--locked", "--package", package])?;
        done.push(package);
    }
    Ok(())
}

/// What one run did.
pub struct Outcome {
    pub exit: Exit,
    pub spans: usize,
    /// The line that matched `output`, with the collector's ports normalised.
    pub line: Option<String>,
    pub seconds: f64,
}

/// Runs every case; returns the book's table, or an error naming each case
/// that did not behave.
pub async fn run(cases: &Cases, package: &str) -> Result<String> {
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for case in &cases.case {
        let outcome = run_case(case)
            .await
            .with_context(|| format!("case {:?}", case.name))?;
        let problems = judge(case, &outcome);
        println!(
            "  case {:?}: exit {}, {} span(s), {:.1}s{}",
            case.name,
            exit_word(outcome.exit),
            outcome.spans,
            outcome.seconds,
            if problems.is_empty() { "" } else { "  FAILED" }
        );
        if !problems.is_empty() {
            failures.push(format!(
                "case {:?}:\n  {}",
                case.name,
                problems.join("\n  ")
            ));
        }
        outcomes.push(outcome);
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(render(cases, package, &outcomes))
}

fn exit_word(exit: Exit) -> &'static str {
    match exit {
        Exit::Success => "success",
        Exit::Failure => "failure",
    }
}

async fn run_case(case: &Case) -> Result<Outcome> {
    let collector = Collector::start(0, 0).await?;
    let hanging = start_hanging_server().await?;
    let http_authority = collector.http_addr.to_string();
    let grpc_authority = collector.grpc_addr.to_string();
    let fill = |value: &str| {
        value
            .replace("{http_authority}", &http_authority)
            .replace("{grpc_authority}", &grpc_authority)
            .replace("{http}", &collector.http_endpoint())
            .replace("{grpc}", &collector.grpc_endpoint())
            .replace("{hanging}", &format!("http://{}", hanging.addr))
    };
    let program = repo::target_dir().join("debug").join(&case.bin);
    if !program.exists() {
        bail!("{} is not built", program.display());
    }
    let mut command = Command::new(&program);
    command
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_SDK_DISABLED")
        .env("NO_COLOR", "1");
    for (name, value) in &case.env {
        command.env(name, fill(value));
    }
    let finished = proc::run_to_exit(&case.bin, &mut command, HARD_TIMEOUT).await?;

    // Exited: anything it sent has been answered. Wait briefly for a count
    // that is still short, and settle a little when none may arrive at all.
    if case.spans == 0 {
        tokio::time::sleep(SETTLE).await;
    } else {
        // Short at the deadline: the judge below reports the count.
        let _ = proc::poll_until(
            ARRIVAL_DEADLINE,
            Duration::from_millis(50),
            || async {
                let spans = collector.store.snapshot().spans.len();
                Ok(if spans >= case.spans {
                    Attempt::Done(())
                } else {
                    Attempt::NotYet(format!("{spans} spans"))
                })
            },
        )
        .await;
    }
    let spans = collector.store.snapshot().spans.len();

    let printed = finished.printed();
    let line = case.output.as_ref().and_then(|wanted| {
        printed
            .lines()
            .find(|line| line.contains(wanted.as_str()))
            .map(|line| {
                line.replace(&hanging.addr.to_string(), "127.0.0.1:9999")
                    .replace(&http_authority, "127.0.0.1:4318")
                    .replace(&grpc_authority, "127.0.0.1:4317")
                    .trim()
                    .to_owned()
            })
    });
    let outcome = Outcome {
        exit: if finished.status.success() {
            Exit::Success
        } else {
            Exit::Failure
        },
        spans,
        line,
        seconds: finished.seconds,
    };
    if !judge(case, &outcome).is_empty() {
        eprintln!("  output of {}:\n{}", case.bin, indent(&printed));
    }
    Ok(outcome)
}

/// What differs from the case's expectations, one message each.
fn judge(case: &Case, outcome: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if outcome.exit != case.exit {
        problems.push(format!(
            "expected exit {}, got {}",
            exit_word(case.exit),
            exit_word(outcome.exit)
        ));
    }
    if outcome.spans != case.spans {
        problems.push(format!(
            "expected {} span(s) at the collector, got {}",
            case.spans, outcome.spans
        ));
    }
    if let Some(wanted) = &case.output
        && outcome.line.is_none()
    {
        problems.push(format!(
            "expected a line containing {wanted:?}; none printed"
        ));
    }
    if let Some(min) = case.min_seconds
        && outcome.seconds < min
    {
        problems.push(format!(
            "expected to run at least {min}s, ran {:.1}s",
            outcome.seconds
        ));
    }
    if let Some(max) = case.max_seconds
        && outcome.seconds > max
    {
        problems.push(format!(
            "expected to run at most {max}s, ran {:.1}s",
            outcome.seconds
        ));
    }
    problems
}

/// The book's view: one block per case, stable from run to run (no times,
/// no ports).
fn render(cases: &Cases, package: &str, outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for (case, outcome) in cases.case.iter().zip(outcomes) {
        let _ = writeln!(text, "{}", case.name);
        let _ = writeln!(text, "  $ {}", command_line(case, package));
        let _ = writeln!(
            text,
            "  exit: {}, spans at the collector: {}",
            exit_word(outcome.exit),
            outcome.spans
        );
        if let Some(line) = &outcome.line {
            for part in wrap(line, WIDTH - 2, WIDTH - 6) {
                let _ = writeln!(text, "  {part}");
            }
        }
        if let Some(min) = case.min_seconds {
            let _ = writeln!(text, "  (ran for at least {min} s)");
        }
        text.push('\n');
    }
    text.pop();
    text
}

/// How a reader runs the case from the repository root.
fn command_line(case: &Case, package: &str) -> String {
    let parts: Vec<String> = case
        .env
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace("{http_authority}", "127.0.0.1:4318")
                .replace("{grpc_authority}", "127.0.0.1:4317")
                .replace("{http}", "http://127.0.0.1:4318")
                .replace("{grpc}", "http://127.0.0.1:4317")
                .replace("{hanging}", "http://127.0.0.1:9999");
            format!("{name}={value}")
        })
        .collect();
    let package = case.package.as_deref().unwrap_or(package);
    let cargo = if case.bin == package {
        format!("cargo run -p {package}")
    } else {
        format!("cargo run -p {package} --bin {}", case.bin)
    };
    // The variables on a line of their own, so that the page needs no
    // horizontal scrolling.
    if parts.is_empty() {
        cargo
    } else {
        format!("{} \\\n    {cargo}", parts.join(" "))
    }
}

/// A server that accepts connections, holds them and never answers: a
/// collector that hangs. Stops when dropped.
struct Hanging {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_hanging_server() -> Result<Hanging> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok(Hanging { addr, task })
}

/// Columns of the book's table: it shows without horizontal scrolling.
const WIDTH: usize = 80;

/// Splits `line` at spaces into pieces of at most `first` columns, then
/// `rest` columns, the later ones indented by the difference. A word longer
/// than the width stays whole.
fn wrap(line: &str, first: usize, rest: usize) -> Vec<String> {
    let indent = " ".repeat(first.saturating_sub(rest));
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in line.split(' ') {
        let limit = if out.is_empty() { first } else { rest };
        let needed = current.chars().count() + 1 + word.chars().count();
        if !current.is_empty() && needed > limit {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push(current);
    for piece in out.iter_mut().skip(1) {
        *piece = format!("{indent}{piece}");
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(text: &str) -> Case {
        let cases: Cases = toml::from_str(text).unwrap();
        cases.case.into_iter().next().unwrap()
    }

    const BROKEN: &str = r#"
        [[case]]
        name = "path doubled"
        bin = "x"
        env = { OTEL_EXPORTER_OTLP_ENDPOINT = "{http}/v1/traces" }
        exit = "success"
        spans = 0
        output = "404"
    "#;

    #[test]
    fn names_every_difference() {
        let outcome = Outcome {
            exit: Exit::Failure,
            spans: 1,
            line: None,
            seconds: 0.1,
        };
        let problems = judge(&case(BROKEN), &outcome);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("exit success, got failure"));
        assert!(problems[1].contains("expected 0 span(s) at the collector, got 1"));
        assert!(problems[2].contains("\"404\""));
    }

    #[test]
    fn passes_and_renders_without_ports() {
        let outcome = Outcome {
            exit: Exit::Success,
            spans: 0,
            line: Some(
                "WARN 404 at http://127.0.0.1:4318/v1/traces/v1/traces".into(),
            ),
            seconds: 0.1,
        };
        let case = case(BROKEN);
        assert!(judge(&case, &outcome).is_empty());
        let cases = Cases { case: vec![case] };
        let text = render(&cases, "example-x", &[outcome]);
        assert_eq!(
            text,
            "path doubled\n  \
             $ OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318/v1/traces \\\n    \
             cargo run -p example-x --bin x\n  \
             exit: success, spans at the collector: 0\n  \
             WARN 404 at http://127.0.0.1:4318/v1/traces/v1/traces\n"
        );
    }

    #[test]
    fn wraps_long_output_at_spaces() {
        assert_eq!(
            wrap("aaa bbb ccc ddd", 8, 6),
            vec!["aaa bbb", "  ccc", "  ddd"]
        );
        assert_eq!(wrap("short", 8, 6), vec!["short"]);
        assert_eq!(
            wrap("averyveryverylongword x", 8, 6),
            vec!["averyveryverylongword", "  x"]
        );
    }

    #[test]
    fn refuses_unknown_fields_and_exits() {
        assert!(
            toml::from_str::<Cases>(
                "[[case]]\nname='a'\nbin='b'\nexit='maybe'\nspans=0"
            )
            .is_err()
        );
        assert!(
            toml::from_str::<Cases>(
                "[[case]]\nname='a'\nbin='b'\nexit='success'\nspans=0\nspan=1"
            )
            .is_err()
        );
    }
}
