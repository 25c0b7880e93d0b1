//! Compiles the app's configuration (`tauri.conf.json`), icons and
//! front end (`ui/`) into the binary.
//!
//! The app grants no capabilities (its own commands need none), so it has
//! no `capabilities/` directory. Naming the pattern keeps tauri-build from
//! asking Cargo to watch that missing directory: a missing watched path
//! counts as changed, and the app would be rebuilt on every `cargo build`.
//! Create `capabilities/` and it is watched again.

fn main() {
    if std::path::Path::new("capabilities").exists() {
        println!("cargo:rerun-if-changed=capabilities");
    }
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./capabilities/**/*");
    if let Err(error) = tauri_build::try_build(attributes) {
        // As `tauri_build::build` does: the message, and a failed build.
        eprintln!("tauri-build: {error:#}");
        std::process::exit(1);
    }
}
