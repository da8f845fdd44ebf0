//! Fuzz target: any byte string through the whole checker, plus a formatter round trip.
//!
//! Invariants (a violation is a panic, which libFuzzer reports as a crash):
//! - `archc::decode` and `archc::check_source` never panic, whatever the bytes;
//! - a file that parses without errors formats (`archc::fmt::ast_to_source`) to text
//!   that parses again without errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = archc::decode(data) else {
        return;
    };
    let checked = archc::check_source(src, &archc::CheckOptions::default());

    // A file that parses keeps its syntax tree (check_source stops at parse errors).
    let Some(ast) = &checked.ast else {
        return;
    };
    let formatted = archc::fmt::ast_to_source(ast, src);
    let (_, errors) = archc::source_to_ast(&formatted);
    assert!(
        errors.is_empty(),
        "formatted text does not parse again: {errors:?}\n--- input ---\n{src}\n--- formatted ---\n{formatted}"
    );
});
