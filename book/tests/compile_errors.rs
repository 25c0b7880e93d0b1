//! The compile errors the book shows are the ones rustc gives today: each case
//! in `compile-fail/` must fail with exactly its `.stderr`, which the chapter
//! includes. Regenerate with `TRYBUILD=overwrite cargo test -p book`.

#[test]
fn compile_errors_shown_in_the_book() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("compile-fail/*.rs");
    // The fixes the chapters show next to each error.
    cases.pass("compile-pass/*.rs");
}
