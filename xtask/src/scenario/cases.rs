//! Cases: for examples whose programs run to completion rather than serve,
//! `cases.toml` lists programs, each run once against a fresh embedded
//! collector, with what must happen: how it exits, how many spans arrive, a
//! line it prints, how long it takes. The troubleshooting chapter uses this to
//! show each broken set-up failing and its fix delivering.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use super::judge::{CaseRun, Evidence, judge};
pub use super::spec::cases::{Case, Cases, Exit};
use crate::otlp::collector::Collector;
use crate::otlp::collector::tls::{self, Pki};
use crate::proc::{self, Attempt};
use crate::repo;

/// How long spans may take to arrive after the program exited.
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(5);
/// How long to keep watching for late spans when none may arrive.
const SETTLE: Duration = Duration::from_millis(300);

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

/// Runs every case; returns the book's table, or an error naming each case
/// that did not behave.
pub async fn run(cases: &Cases, package: &str) -> Result<String> {
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for case in &cases.case {
        let outcome = run_case(case)
            .await
            .with_context(|| format!("case {:?}", case.name))?;
        let problems = judge(Evidence::Case {
            case,
            run: &outcome,
        })?;
        println!(
            "  case {:?}: exit {}, {} span(s), {:.1}s{}",
            case.name,
            outcome.exit.word(),
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

async fn run_case(case: &Case) -> Result<CaseRun> {
    let collector = Collector::start(0, 0).await?;
    let hanging = start_hanging_server().await?;
    let pki = Pki::generate()?;
    let secured = collector.serve_tls(&pki).await?;
    let http_authority = collector.http_addr.to_string();
    let grpc_authority = collector.grpc_addr.to_string();
    let grpcs_authority = secured.grpc.to_string();
    let ca = pki.path(tls::CA).display().to_string();
    let fill = |value: &str| {
        value
            .replace("{http_authority}", &http_authority)
            .replace("{grpc_authority}", &grpc_authority)
            .replace("{http}", &collector.http_endpoint())
            .replace("{grpcs}", &format!("https://{grpcs_authority}"))
            .replace("{grpc}", &collector.grpc_endpoint())
            .replace("{hanging}", &format!("http://{}", hanging.addr))
            .replace("{ca}", &ca)
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
                    .replace(&grpcs_authority, "127.0.0.1:4317")
                    .replace(&http_authority, "127.0.0.1:4318")
                    .replace(&grpc_authority, "127.0.0.1:4317")
                    .trim()
                    .to_owned()
            })
    });
    let outcome = CaseRun {
        exit: if finished.status.success() {
            Exit::Success
        } else {
            Exit::Failure
        },
        spans,
        line,
        seconds: finished.seconds,
    };
    if !judge(Evidence::Case {
        case,
        run: &outcome,
    })?
    .is_empty()
    {
        eprintln!("  output of {}:\n{}", case.bin, indent(&printed));
    }
    Ok(outcome)
}

/// The book's view: one block per case, stable from run to run (no times,
/// no ports).
fn render(cases: &Cases, package: &str, outcomes: &[CaseRun]) -> String {
    let mut text = String::new();
    for (case, outcome) in cases.case.iter().zip(outcomes) {
        let _ = writeln!(text, "{}", case.name);
        let _ = writeln!(text, "  $ {}", command_line(case, package));
        let _ = writeln!(
            text,
            "  exit: {}, spans at the collector: {}",
            outcome.exit.word(),
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
                .replace("{grpcs}", "https://127.0.0.1:4317")
                .replace("{grpc}", "http://127.0.0.1:4317")
                .replace("{hanging}", "http://127.0.0.1:9999")
                .replace("{ca}", "ca.pem");
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
    fn passes_and_renders_without_ports() {
        let outcome = CaseRun {
            exit: Exit::Success,
            spans: 0,
            line: Some(
                "WARN 404 at http://127.0.0.1:4318/v1/traces/v1/traces".into(),
            ),
            seconds: 0.1,
        };
        let case = case(BROKEN);
        let evidence = Evidence::Case {
            case: &case,
            run: &outcome,
        };
        assert!(judge(evidence).unwrap().is_empty());
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
