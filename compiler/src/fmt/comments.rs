//! Finding the source's comments again and the anchors they attach to (see the module
//! docs of `fmt`).

use super::text::body_of;
use super::Comment;
use crate::ast::*;

/// The source positions that start an output line, sorted.
pub(super) fn anchors(ast: &Ast, src: &str) -> Vec<usize> {
    let mut out: Vec<usize> = ast.inner_attrs.iter().map(|a| a.span.lo).collect();
    for item in &ast.items {
        out.extend(item.attrs.iter().map(|a| a.span.lo));
        out.push(header_pos(item, src));
        if let Some(body) = body_of(&item.kind) {
            for prop in &body.props {
                out.extend(prop.attrs.iter().map(|a| a.span.lo));
                out.push(prop.key.span.lo);
            }
            out.push(close_pos(body));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Where an item's keyword starts (after its attributes).
pub(super) fn header_pos(item: &Item, src: &str) -> usize {
    next_code(src, item.attrs.last().map_or(item.span.lo, |a| a.span.hi))
}

/// Where a body's closing `}` is.
pub(super) fn close_pos(body: &Body) -> usize {
    body.span.hi.saturating_sub(1)
}

/// The first position at or after `pos` that is neither whitespace nor inside a comment.
pub(super) fn next_code(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    loop {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r' | b'\n') {
            pos += 1;
        }
        if !bytes[pos.min(bytes.len())..].starts_with(b"//") {
            return pos.min(bytes.len());
        }
        pos = src[pos..].find('\n').map_or(src.len(), |n| pos + n);
    }
}

/// Whether the whitespace just before `pos` holds an empty line (and something precedes it).
pub(super) fn blank_line_before(src: &str, pos: usize) -> bool {
    let before = &src[..pos];
    let code = before.trim_end_matches([' ', '\t', '\r', '\n']);
    !code.is_empty() && before[code.len()..].matches('\n').count() >= 2
}

/// Every `//` comment of `src` in order, skipping `//` inside strings.
pub(super) fn scan_comments(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                let line_start = src[..i].rfind('\n').map_or(0, |n| n + 1);
                let own_line = src[line_start..i]
                    .bytes()
                    .all(|b| matches!(b, b' ' | b'\t' | b'\r'));
                let blank_before = own_line && blank_line_before(src, i);
                out.push(Comment {
                    lo: i,
                    text: src[i..end].trim_end().to_string(),
                    own_line,
                    blank_before,
                });
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}
