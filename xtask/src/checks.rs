//! The checks `verify` runs besides the scenarios: the pin table
//! (`pins`), generated files (`generate`, with the appendix `ecosystem`),
//! the book's snippet rules (`snippets`), Cargo's own checks (`cargo`:
//! fmt, clippy, test), examples built outside the workspace (`standalone`),
//! other languages' exporters against the collector (`interop`), the book's
//! build and links (`book`), the workflows (`workflows`) and the docker
//! stacks (`stacks`). Each returns what it found; `verify` orders them.

pub mod book;
pub mod cargo;
pub mod ecosystem;
pub mod generate;
pub mod interop;
pub mod pins;
pub mod snippets;
pub mod stacks;
pub mod standalone;
pub mod workflows;

use anyhow::{Result, bail};

use crate::tools::Outcome;

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
