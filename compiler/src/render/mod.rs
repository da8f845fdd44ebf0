//! The one place where diagnostics become words: message, labels, help (`words.rs`).
//! Everything before this carries facts; the CLI only picks colours and exit codes.

mod words;

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
    let (message, labels, help) = words(&d.error);
    // Labels must lie inside the source for miette.
    let labels = labels
        .into_iter()
        .filter(|(s, _, _)| s.hi <= src.len())
        .collect();
    Report {
        code: d.error.code(),
        severity: d.severity,
        message,
        labels,
        help,
        src: NamedSource::new(name, src.to_string()),
    }
}

/// A diagnostic as JSON (for `--format json`).
pub fn to_json(d: &Diagnostic, name: &str, src: &str) -> serde_json::Value {
    let r = report(d, name, src);
    let labels: Vec<serde_json::Value> = r
        .labels
        .iter()
        .map(|(sp, l, primary)| {
            let (line, column) = line_col(src, sp.lo);
            serde_json::json!({ "offset": sp.lo, "length": sp.len(), "line": line, "column": column, "label": l, "primary": primary })
        })
        .collect();
    serde_json::json!({
        "file": name,
        "code": r.code,
        "severity": r.severity,
        "message": r.message,
        "labels": labels,
        "help": r.help,
    })
}
