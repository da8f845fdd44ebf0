//! Byte spans into one source file.

use serde::{Deserialize, Serialize};

/// A half-open byte range `[lo, hi)` into the source text.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Span {
    pub lo: usize,
    pub hi: usize,
}

impl Span {
    pub fn new(lo: usize, hi: usize) -> Span {
        Span { lo, hi: hi.max(lo) }
    }
    /// A zero-width span at `at`.
    pub fn point(at: usize) -> Span {
        Span { lo: at, hi: at }
    }
    pub fn len(&self) -> usize {
        self.hi - self.lo
    }
    pub fn is_empty(&self) -> bool {
        self.hi == self.lo
    }
    pub fn to(self, other: Span) -> Span {
        Span::new(self.lo.min(other.lo), self.hi.max(other.hi))
    }
    pub fn shifted(self, by: usize) -> Span {
        Span::new(self.lo + by, self.hi + by)
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        // SourceSpan takes a LENGTH, not an end.
        miette::SourceSpan::new(s.lo.into(), s.len())
    }
}

/// 1-based line and column (in chars) of a byte offset.
pub fn line_col(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}
