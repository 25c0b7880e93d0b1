//! The `[[browser]]` steps: what a user does in a page, or in a desktop
//! app's window.

use serde::Deserialize;

/// One thing a user does in the browser. Written as a table with exactly
/// one of `open`, `fill`, `click`, `wait_for` and `screenshot`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BrowserStepTable")]
pub enum BrowserStep {
    /// Load this path of a process (`to`, default the first).
    Open { path: String, to: Option<String> },
    /// Type `text` into the element this CSS selector picks.
    Fill { css: String, text: String },
    /// Click the element this CSS selector picks.
    Click { css: String },
    /// Wait until the element this CSS selector picks shows `text`.
    WaitFor { css: String, text: String },
    /// Capture a desktop app's screen as this PNG file (a name, no
    /// directory): `target/screenshots/<file>`, and with `--bless`
    /// `book/src/generated/<file>`, where a chapter shows it.
    Screenshot { file: String },
}

/// How a browser step is written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BrowserStepTable {
    open: Option<String>,
    to: Option<String>,
    fill: Option<String>,
    click: Option<String>,
    wait_for: Option<String>,
    text: Option<String>,
    screenshot: Option<String>,
}

impl TryFrom<BrowserStepTable> for BrowserStep {
    type Error = String;

    fn try_from(t: BrowserStepTable) -> Result<Self, String> {
        let actions = [&t.open, &t.fill, &t.click, &t.wait_for, &t.screenshot];
        if actions.iter().filter(|a| a.is_some()).count() != 1 {
            return Err(
                "a [[browser]] step has exactly one of open, fill, click, wait_for, screenshot"
                    .into(),
            );
        }
        if let Some(file) = t.screenshot {
            let plain = !file.contains('/') && !file.starts_with('.');
            if !(plain && file.ends_with(".png")) {
                return Err(format!(
                    "screenshot = {file:?}: a file name ending in .png, without a directory"
                ));
            }
            return Ok(BrowserStep::Screenshot { file });
        }
        if t.to.is_some() && t.open.is_none() {
            return Err("`to` goes with `open` only".into());
        }
        match (t.fill.is_some() || t.wait_for.is_some(), t.text.is_some()) {
            (true, false) => {
                return Err("`fill` and `wait_for` need a `text`".into());
            }
            (false, true) => {
                return Err(
                    "`text` goes with `fill` and `wait_for`, and only with them"
                        .into(),
                );
            }
            _ => {}
        }
        let text = t.text.unwrap_or_default();
        Ok(match (t.open, t.fill, t.click, t.wait_for) {
            (Some(path), ..) => BrowserStep::Open { path, to: t.to },
            (_, Some(css), ..) => BrowserStep::Fill { css, text },
            (_, _, Some(css), _) => BrowserStep::Click { css },
            (.., Some(css)) => BrowserStep::WaitFor { css, text },
            (None, None, None, None) => return Err("no action".into()),
        })
    }
}
