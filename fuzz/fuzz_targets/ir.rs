//! Fuzz target: any byte string read as an IR document (`archc build`'s `ir.yaml`), the way
//! every command that takes one reads it (`archc::check_ir`).
//!
//! Invariants (a violation is a panic, which libFuzzer reports as a crash):
//! - `archc::check_ir` never panics, whatever the bytes;
//! - a document it accepts without errors gives a graph whose own IR is accepted too, and
//!   rebuilds to the same IR (reading is idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = archc::CheckOptions::default();
    let checked = archc::check_ir(text, &opts);
    if checked.has_errors() {
        return;
    }
    let Some(graph) = checked.graph else {
        return;
    };
    let ours = archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph));
    let again = archc::check_ir(&ours, &opts);
    assert!(
        !again.has_errors(),
        "the IR of an accepted document is refused: {:?}\n--- input ---\n{text}\n--- rewritten ---\n{ours}",
        again.diagnostics.first()
    );
    let graph = again.graph.expect("an accepted IR has a graph");
    assert_eq!(
        archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph)),
        ours,
        "reading an IR back does not give it again"
    );
});
