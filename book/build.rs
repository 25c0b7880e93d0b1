//! Generates a skeptic test for every inline ```rust fence of the chapters.
//! Fences that are a single `{{#include ...}}` show a file that is compiled
//! where it lives, so they are left out: skeptic sees a copy of each chapter
//! with only the inline fences.

use std::path::{Path, PathBuf};

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"))
        .join("chapters");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let mut chapters = Vec::new();
    collect(&manifest.join("src"), &mut chapters);
    chapters.sort();
    let mut copies = Vec::new();
    for chapter in &chapters {
        println!("cargo:rerun-if-changed={}", chapter.display());
        let text = std::fs::read_to_string(chapter).expect("chapters are UTF-8");
        let inline = inline_rust_fences(&text);
        if inline.is_empty() {
            continue;
        }
        let name = chapter
            .strip_prefix(manifest.join("src"))
            .expect("under src")
            .to_string_lossy()
            .replace(['/', '\\', '-'], "_");
        let copy = out.join(name);
        // Written only when it changed: skeptic asks Cargo to watch each
        // copy, and a file written during the build script's run counts as
        // changed on the next build, which would then run this again.
        if std::fs::read_to_string(&copy).ok().as_deref() != Some(inline.as_str()) {
            std::fs::write(&copy, &inline).expect("OUT_DIR is writable");
        }
        copies.push(copy.to_string_lossy().into_owned());
    }
    println!("cargo:rerun-if-changed={}", manifest.join("src").display());
    skeptic::generate_doc_tests(&copies);
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("book/src is readable") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The chapter with everything but its inline ```rust fences blanked out, so
/// that skeptic's test names (`<chapter>_line_N`) point at the real line.
fn inline_rust_fences(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![""; lines.len()];
    let mut any = false;
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        match open {
            None if trimmed.starts_with("```") => open = Some(i),
            None => {}
            Some(start) if trimmed.starts_with("```") => {
                let info = lines[start].trim_start().trim_start_matches('`').trim();
                let body = &lines[start + 1..i];
                let is_rust = info.split(',').next() == Some("rust");
                let included = body.len() == 1 && body[0].trim().starts_with("{{#");
                if is_rust && !included {
                    out[start..=i].copy_from_slice(&lines[start..=i]);
                    any = true;
                }
                open = None;
            }
            Some(_) => {}
        }
    }
    if any {
        out.join("\n") + "\n"
    } else {
        String::new()
    }
}
