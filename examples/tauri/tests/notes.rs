//! The notes the `add_note` command keeps: checked, saved, read back.

use example_tauri::{MAX_NOTE_CHARS, NoteError, Notes, notes_file};

#[test]
fn notes_are_saved_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.json");
    let notes = Notes::open(file.clone()).unwrap();
    assert!(notes.list().is_empty());
    assert_eq!(notes.add("  first  ").unwrap().text, "first");
    assert_eq!(notes.add("second").unwrap().id, 2);

    let reopened = Notes::open(file).unwrap();
    assert_eq!(reopened.list(), notes.list());
    assert_eq!(reopened.add("third").unwrap().id, 3);
}

#[test]
fn empty_and_long_notes_are_refused_and_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let notes = Notes::open(dir.path().join("notes.json")).unwrap();
    assert!(matches!(notes.add("   "), Err(NoteError::Length(0))));
    let long = "x".repeat(MAX_NOTE_CHARS + 1);
    let refused = notes.add(&long).unwrap_err().to_string();
    assert_eq!(refused, "a note has 1 to 280 characters, not 281");
    assert!(notes.list().is_empty());
    assert!(!dir.path().join("notes.json").exists());
}

#[test]
fn a_failed_save_loses_nothing_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: the rename fails.
    let file = dir.path().join("notes.json");
    let notes = Notes::open(file.clone()).unwrap();
    notes.add("kept").unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let refused = notes.add("not kept").unwrap_err().to_string();
    assert!(refused.contains("could not be saved to"), "{refused}");
    assert_eq!(
        notes.list().len(),
        1,
        "the failed note is not kept in memory"
    );
}

#[test]
fn a_file_that_is_not_notes_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.json");
    std::fs::write(&file, "{ not json").unwrap();
    let error = Notes::open(file).unwrap_err();
    assert!(error.contains("is not a notes file"), "{error}");
}

#[test]
fn the_notes_file_comes_from_the_variable_or_the_data_dir() {
    let data = std::path::Path::new("/home/u/.local/share/app");
    assert_eq!(notes_file(None, data), data.join("notes.json"));
    assert_eq!(
        notes_file(Some(String::new()), data),
        data.join("notes.json")
    );
    assert_eq!(
        notes_file(Some("/tmp/n.json".into()), data),
        std::path::PathBuf::from("/tmp/n.json")
    );
}
