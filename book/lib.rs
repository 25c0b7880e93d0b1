//! The book as a crate: its tests compile the chapters' inline ```rust fences
//! (skeptic, see `build.rs`) and check the compile errors the chapters show
//! (trybuild, `compile-fail/`). It has no code of its own.
