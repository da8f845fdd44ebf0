//! Printing diagnostics: miette's graphical handler, coloured on a terminal, plain
//! otherwise (and always plain under NO_COLOR), at a fixed width so output is stable.

use archc::diag::Diagnostic;
use miette::{GraphicalReportHandler, GraphicalTheme};
use std::io::IsTerminal;

pub fn handler() -> GraphicalReportHandler {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_width(100)
}

/// Prints diagnostics over a file's bytes (shown with non-printing characters escaped).
pub fn human(diags: &[Diagnostic], name: &str, src: &[u8]) {
    if diags.is_empty() {
        return;
    }
    let h = handler();
    let shown = archc::render::Shown::new(src);
    for d in diags {
        let report = archc::render::report_shown(d, name, &shown);
        let mut out = String::new();
        if h.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}\n", report.code, report.message);
        }
        eprintln!("{out}");
    }
}
