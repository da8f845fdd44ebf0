//! Every diagnostic code has an explain page; every page's example fails with its code;
//! every page belongs to a code.

use crate::common::{check_bytes, header_options, unescape_bytes};
use archc::diag::CODES;
use archc::explain::{example, ir_example, page, PAGES};

#[test]
fn every_code_has_a_page_whose_example_fails_with_it() {
    let mut problems = Vec::new();
    for code in CODES {
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
        let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.error.code()).collect();
        if !codes.contains(code) {
            problems.push(format!("{code}: the example gives {codes:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_page_belongs_to_a_code() {
    for (code, _) in PAGES {
        assert!(
            CODES.contains(code),
            "page {code} has no code in diag::CODES"
        );
    }
    assert_eq!(PAGES.len(), CODES.len());
}
