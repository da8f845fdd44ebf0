//! The one place where diagnostics become words: message, labels, help (`words.rs`).
//! Everything before this carries facts; the CLI only picks colours and exit codes.

mod shown;
mod words;

pub use shown::{escape_text, Shown};
use words::words;

use crate::diag::{Diagnostic, Severity};
use crate::span::{line_col, Span};
use miette::{LabeledSpan, NamedSource};
use std::fmt;

/// A diagnostic ready for miette (and for JSON).
#[derive(Debug)]
pub struct Report {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// (span, label, primary?)
    pub labels: Vec<(Span, String, bool)>,
    pub help: Option<String>,
    pub src: NamedSource<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.labels.is_empty() {
            None
        } else {
            Some(&self.src)
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|(s, l, primary)| {
            let label = if l.is_empty() { None } else { Some(l.clone()) };
            if *primary {
                LabeledSpan::new_primary_with_span(label, *s)
            } else {
                LabeledSpan::new_with_span(label, *s)
            }
        })))
    }
}

/// Turns one diagnostic into a report over `src` (named `name`).
pub fn report(d: &Diagnostic, name: &str, src: &str) -> Report {
    report_shown(d, name, &Shown::new(src.as_bytes()))
}

/// Turns one diagnostic into a report over a file's bytes as shown (non-printing
/// characters and bytes that are not UTF-8 escaped, spans moved to match). Build the
/// `Shown` once per file: it is a pass over the whole file.
pub fn report_shown(d: &Diagnostic, name: &str, shown: &Shown) -> Report {
    let (message, labels, help) = words(&d.error);
    // Labels must lie inside the source for miette.
    let labels = labels
        .into_iter()
        .map(|(s, l, primary)| {
            let span = Span::new(shown.offset(s.lo), shown.offset(s.hi));
            (span, escape_text(&l), primary)
        })
        .filter(|(s, _, _)| s.hi <= shown.text.len())
        .collect();
    Report {
        code: d.error.code().as_str(),
        severity: d.severity,
        message: escape_text(&message),
        labels,
        help: help.map(|h| escape_text(&h)),
        src: NamedSource::new(escape_text(name), shown.text.clone()),
    }
}

/// A diagnostic as JSON (for `--format json`); offsets, lines and columns are the file's.
pub fn to_json(d: &Diagnostic, name: &str, src: &[u8]) -> serde_json::Value {
    let (message, labels, help) = words(&d.error);
    let labels: Vec<serde_json::Value> = labels
        .iter()
        .filter(|(s, _, _)| s.hi <= src.len())
        .map(|(sp, l, primary)| {
            let (line, column) = line_col(src, sp.lo);
            serde_json::json!({ "offset": sp.lo, "length": sp.len(), "line": line, "column": column, "label": escape_text(l), "primary": primary })
        })
        .collect();
    serde_json::json!({
        "file": name,
        "code": d.error.code().as_str(),
        "severity": d.severity,
        "message": escape_text(&message),
        "labels": labels,
        "help": help.map(|h| escape_text(&h)),
    })
}
