//! Golden UI tests: every `tests/ui/<area>/<name>.arch` (and IR document `.yaml`) is
//! checked and its rendered
//! diagnostics (no colour, width 100) must equal `<name>.stderr` byte for byte.
//! A first line `// archc: --set d=3 --smoke` passes options. `BLESS=1` rewrites goldens.

use crate::common::{check_bytes, header_options, render_all, root, unescape_bytes};
use std::path::{Path, PathBuf};

fn arch_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            arch_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "arch" || e == "yaml") {
            out.push(p);
        }
    }
}

/// Renders one UI file as the golden holds it.
pub fn render_ui(path: &Path) -> String {
    let rel = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let (src, checked) = if path.extension().is_some_and(|e| e == "yaml") {
        // An IR document (tests/ui/ir/make.sh writes them), read back as `archc` does.
        (
            text.clone().into_bytes(),
            archc::check_ir(&text, &archc::CheckOptions::default()),
        )
    } else {
        check_bytes(&unescape_bytes(&text), &header_options(&text))
    };
    let mut out = render_all(&checked.diagnostics, &rel, &src);
    out.push_str(&format!(
        "exit: {}\n",
        if checked.has_errors() { 1 } else { 0 }
    ));
    out
}

#[test]
fn ui_goldens() {
    let mut files = Vec::new();
    arch_files(&root().join("tests/ui"), &mut files);
    assert!(!files.is_empty(), "no UI tests found");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for f in &files {
        let got = render_ui(f);
        let golden = f.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &got).expect("write golden");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}:\n--- want\n{want}\n--- got\n{got}",
                golden.display()
            )),
            Err(_) => failures.push(format!(
                "{}: missing golden (run with BLESS=1)\n{got}",
                golden.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} UI tests differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
