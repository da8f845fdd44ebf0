//! Every diagnostic code has an explain page; every page's example fails with its code;
//! every page belongs to a code.

use crate::common::{check_bytes, header_options, unescape_bytes};
use archc::diag::Code;
use archc::explain::{example, ir_example, page};

#[test]
fn every_code_has_a_page_whose_example_fails_with_it() {
    let mut problems = Vec::new();
    for code in Code::ALL.iter().map(|c| c.as_str()) {
        let Some(p) = page(code) else {
            problems.push(format!("{code}: no explain page"));
            continue;
        };
        let checked = if let Some(ex) = ir_example(p) {
            archc::check_ir(ex, &archc::CheckOptions::default())
        } else if let Some(ex) = example(p) {
            check_bytes(&unescape_bytes(ex), &header_options(ex)).1
        } else {
            problems.push(format!(
                "{code}: the page has no ```arch (or ```yaml) example"
            ));
            continue;
        };
        let codes: Vec<&str> = checked
            .diagnostics
            .iter()
            .map(|d| d.error.code().as_str())
            .collect();
        if !codes.contains(&code) {
            problems.push(format!("{code}: the example gives {codes:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every page in compiler/src/explain/ is a listed code's (a page for a code no error
/// has would never be shown).
#[test]
fn every_page_belongs_to_a_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../compiler/src/explain");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let listed: Vec<String> = Code::ALL.iter().map(|c| format!("{c}.md")).collect();
    assert_eq!(pages, listed);
}
