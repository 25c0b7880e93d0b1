//! The checks `verify` runs besides the scenarios: the pin table
//! (`pins`, with `binaries` and `readmes`: the examples' binary names and
//! READMEs), generated files (`generate`, with the appendix `ecosystem`),
//! the book's snippet rules (`snippets`, with `figures` for the numbers in
//! its prose and `shape` for the reader's shape of a chapter), Cargo's own checks (`cargo`:
//! fmt, clippy, test), examples built outside the workspace (`standalone`),
//! `cargo xtask run` of each example interrupted (`interrupt`), other
//! languages' exporters against the collector (`interop`), the book's
//! build and links (`book`), the workflows (`workflows`) and the docker
//! stacks (`stacks`). Each returns what it found; `verify` orders them.

pub mod backoff;
pub mod binaries;
pub mod book;
pub mod cargo;
pub mod diagrams;
pub mod ecosystem;
pub mod figures;
pub mod generate;
pub mod includes;
pub mod interop;
pub mod interrupt;
pub mod performance;
pub mod pins;
pub mod readmes;
pub mod shape;
pub mod snippets;
pub mod stability;
pub mod stacks;
pub mod standalone;
pub mod workflows;

use anyhow::{Result, bail};

use crate::tools::Outcome;

/// One problem in a file, with where it is (`book/src/x.md:12`): what the
/// `snippets` step and its `figures` part report.
#[derive(Debug)]
pub struct Problem {
    pub at: String,
    pub message: String,
}

/// Passes when `problems` is empty; else fails listing them.
pub fn problems(what: &str, problems: Vec<String>) -> Result<Outcome> {
    if problems.is_empty() {
        return Ok(Outcome::Passed);
    }
    bail!(
        "{} problem(s) with {what}:\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}
