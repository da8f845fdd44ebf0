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

pub fn human(diags: &[Diagnostic], name: &str, src: &str) {
    let h = handler();
    for d in diags {
        let report = archc::render::report(d, name, src);
        let mut out = String::new();
        if h.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}\n", report.code, report.message);
        }
        eprintln!("{out}");
    }
}
