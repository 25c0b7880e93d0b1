//! A Tauri app's core: notes kept in a JSON file, two commands the webview
//! calls, and the relay that exports the webview's spans.
//!
//! A command's span continues the webview's trace: `invoke` sends the
//! webview span's context as a `traceparent` header, which the command
//! reads from the IPC request the way a server reads an HTTP request's.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub mod webview;

/// The longest note the app keeps, in characters.
pub const MAX_NOTE_CHARS: usize = 280;

/// A note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
}

/// Why a note was not added: the message the webview shows.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("a note has 1 to {MAX_NOTE_CHARS} characters, not {0}")]
    Length(usize),
    #[error("the notes could not be saved to {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Notes in memory, saved to `path` after every change.
#[derive(Debug)]
pub struct Notes {
    path: PathBuf,
    notes: Mutex<Vec<Note>>,
}

impl Notes {
    /// The notes saved at `path`; none if the file does not exist yet.
    pub fn open(path: PathBuf) -> Result<Notes, String> {
        let notes = match std::fs::read_to_string(&path) {
            Ok(json) => serde_json::from_str(&json).map_err(|e| {
                format!("{} is not a notes file: {e}", path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(Notes {
            path,
            notes: Mutex::new(notes),
        })
    }

    pub fn list(&self) -> Vec<Note> {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    // ANCHOR: add
    /// Adds a note and saves the list: the work of the `add_note` command,
    /// inside its span.
    #[tracing::instrument(name = "add note", skip_all, fields(note.chars))]
    pub fn add(&self, text: &str) -> Result<Note, NoteError> {
        let text = text.trim();
        let chars = text.chars().count();
        // As i64: tracing-opentelemetry records a usize as a string.
        tracing::Span::current().record("note.chars", chars as i64);
        if chars == 0 || chars > MAX_NOTE_CHARS {
            tracing::warn!("note rejected");
            return Err(NoteError::Length(chars));
        }
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let note = Note {
            id: notes.last().map_or(1, |n| n.id + 1),
            text: text.to_owned(),
        };
        notes.push(note.clone());
        if let Err(e) = save(&self.path, &notes) {
            notes.pop();
            tracing::error!(error = %e, "notes not saved");
            return Err(e);
        }
        tracing::info!(note.id = note.id as i64, "note added");
        Ok(note)
    }
    // ANCHOR_END: add
}

/// Writes the list to a temporary file, then renames it over the old one:
/// a crash mid-write leaves the old list, not half a file.
#[tracing::instrument(name = "save notes", skip_all, fields(notes.count = notes.len() as i64))]
fn save(path: &Path, notes: &[Note]) -> Result<(), NoteError> {
    let failed = |source| NoteError::Save {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(notes).map_err(|e| failed(e.into()))?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, json).map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

// ANCHOR: parent
/// The trace context an IPC request carries in its headers (`traceparent`,
/// set by the webview's `invoke`): the parent of the command's span.
pub fn parent_of(headers: &tauri::http::HeaderMap) -> opentelemetry::Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// A command's span, named after the command, child of the webview's span
/// when the request carries its context.
pub fn command_span(
    command: &'static str,
    headers: &tauri::http::HeaderMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "command",
        otel.name = command,
        otel.status_code = tracing::field::Empty
    );
    // Fails only when no OpenTelemetry layer is installed; the span then
    // stays a root.
    let _ = span.set_parent(parent_of(headers));
    span
}
// ANCHOR_END: parent

/// `NOTES_FILE`, else `notes.json` in `data_dir`.
pub fn notes_file(variable: Option<String>, data_dir: &Path) -> PathBuf {
    match variable.filter(|v| !v.is_empty()) {
        Some(file) => PathBuf::from(file),
        None => data_dir.join("notes.json"),
    }
}
