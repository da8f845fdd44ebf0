//! `ast_to_source`: the canonical layout that `archc fmt` writes.
//!
//! Layout: inner attributes first, one per line; then the items in source order, each in
//! column 0. A blank line separates items of different keywords and surrounds every item
//! with a body; runs of body-less items of one keyword (`param`, `let`, `mask`, `scale`)
//! stay together, and the `=` of a run of `param` lines not broken by a blank line aligns. A body opens on the item's line, holds one
//! `key: value` per line indented by two spaces with the values aligned in one column, and
//! closes in column 0; an empty body is `{}`. Attributes sit on their own line above what
//! they annotate. A scale is one line: `scale smoke { d = 64, layers = 2 }`. Expressions get
//! single spaces around binary operators and `x`, none around `..`, `, ` between arguments
//! and list elements; the parentheses the user wrote are kept.
//!
//! The AST has no comments, so they are found again in the source and re-attached to
//! *anchors*, the source positions of the tokens that start an output line (an attribute,
//! an item's keyword, a property's key, a body's `}`). A comment alone on its line leads
//! the anchor that follows it; a comment after code trails the last anchor before it. A
//! comment inside a construct that prints on one line (a scale, a multi-line expression or
//! call) moves to just before that construct's line. Blank lines the source had before a
//! top-level comment, and between it and its item, are kept; all others are canonical.

use std::collections::BTreeMap;

use crate::ast::*;

mod comments;
mod text;

use comments::*;
use text::*;

/// Formats a file that parsed without errors. `src` is the text `ast` was parsed from (needed for comments).
pub fn ast_to_source(ast: &Ast, src: &str) -> String {
    let mut p = Printer::new(ast, src);
    for a in &ast.inner_attrs {
        p.line(a.span.lo, 0, &attr_text(a, true), false, true);
    }
    let widths = p.param_widths(&ast.items);
    let mut prev: Option<&Item> = None;
    for (item, width) in ast.items.iter().zip(widths) {
        let blank = match prev {
            None => !ast.inner_attrs.is_empty(),
            Some(prev) => {
                prev.kind.keyword() != item.kind.keyword() || has_body(prev) || has_body(item)
            }
        };
        p.item(item, blank, width);
        prev = Some(item);
    }
    p.finish()
}

/// A `//` comment of the source: where it starts, its text (without the line break), and
/// whether it is alone on its line, after a blank line.
#[derive(Clone, Debug)]
struct Comment {
    lo: usize,
    text: String,
    own_line: bool,
    blank_before: bool,
}

/// The comments re-attached to one anchor.
#[derive(Default)]
struct Slot {
    /// Comments alone on their lines just before the anchor.
    leading: Vec<Comment>,
    /// Comments after the anchor, inside or at the end of the construct it starts.
    attached: Vec<Comment>,
}

struct Printer<'a> {
    src: &'a str,
    out: String,
    slots: BTreeMap<usize, Slot>,
    /// Comments after the last anchor's construct.
    tail: Vec<Comment>,
}

impl<'a> Printer<'a> {
    fn new(ast: &Ast, src: &'a str) -> Printer<'a> {
        let anchors = anchors(ast, src);
        let mut slots: BTreeMap<usize, Slot> = BTreeMap::new();
        let mut tail = Vec::new();
        for c in scan_comments(src) {
            // A comment alone on its line before an anchor (or the end) leads it; any other
            // comment belongs to the construct of the last anchor before it.
            let after = anchors.partition_point(|&a| a <= c.lo);
            let next = next_code(src, c.lo);
            let leads = c.own_line && (next >= src.len() || anchors.binary_search(&next).is_ok());
            if !leads && after > 0 {
                slots
                    .entry(anchors[after - 1])
                    .or_default()
                    .attached
                    .push(c);
            } else if let Some(&at) = anchors.get(after).filter(|_| next < src.len()) {
                slots.entry(at).or_default().leading.push(c);
            } else {
                tail.push(c);
            }
        }
        Printer {
            src,
            out: String::new(),
            slots,
            tail,
        }
    }

    /// The `=` column of each item that is a `param`: runs of params not broken by a blank line align.
    fn param_widths(&self, items: &[Item]) -> Vec<usize> {
        let name = |i: &Item| match &i.kind {
            ItemKind::Param { name, .. } => Some(name.name.len()),
            _ => None,
        };
        let mut widths = vec![0; items.len()];
        let mut i = 0;
        while i < items.len() {
            let mut j = i + 1;
            if name(&items[i]).is_some() {
                while j < items.len() && name(&items[j]).is_some() && !self.kept_blank(&items[j]) {
                    j += 1;
                }
                let width = items[i..j].iter().filter_map(name).max().unwrap_or(0);
                widths[i..j].fill(width);
            }
            i = j;
        }
        widths
    }

    /// Whether a blank line from the source is kept before `item`'s first line.
    fn kept_blank(&self, item: &Item) -> bool {
        let pos = item
            .attrs
            .first()
            .map_or_else(|| header_pos(item, self.src), |a| a.span.lo);
        self.slots.get(&pos).is_some_and(|s| {
            !s.leading.is_empty()
                && (s.leading.iter().any(|c| c.blank_before) || blank_line_before(self.src, pos))
        })
    }

    fn item(&mut self, item: &Item, blank: bool, param_width: usize) {
        let (mut blank, mut top) = (blank, true);
        for a in &item.attrs {
            self.line(a.span.lo, 0, &attr_text(a, false), blank, top);
            (blank, top) = (false, false);
        }
        let pos = header_pos(item, self.src);
        let head = header(&item.kind, param_width, self.src);
        match body_of(&item.kind) {
            None => self.line(pos, 0, &head, blank, top),
            Some(body) if body.props.is_empty() && !self.slots.contains_key(&close_pos(body)) => {
                self.line(pos, 0, &format!("{head} {{}}"), blank, top);
            }
            Some(body) => {
                self.line(pos, 0, &format!("{head} {{"), blank, top);
                let width = body
                    .props
                    .iter()
                    .map(|p| p.key.name.len() + 1)
                    .max()
                    .unwrap_or(0);
                for prop in &body.props {
                    for a in &prop.attrs {
                        self.line(a.span.lo, 2, &attr_text(a, false), false, false);
                    }
                    let key = format!("{}:", prop.key.name);
                    let text = format!("{key:<width$} {}", expr_text(&prop.value, self.src));
                    self.line(prop.key.span.lo, 2, &text, false, false);
                }
                let trailing = self.comments_before(close_pos(body), 2, false, false);
                self.push_line(0, "}", trailing);
            }
        }
    }

    /// Writes the line that starts with the anchor at `pos`, with its comments. `blank`: the
    /// layout wants a blank line before it; `top`: it starts a top-level item, so blank lines
    /// the source had around its leading comments are kept.
    fn line(&mut self, pos: usize, indent: usize, text: &str, blank: bool, top: bool) {
        let trailing = self.comments_before(pos, indent, blank, top);
        self.push_line(indent, text, trailing);
    }

    /// Writes the comments that go before the anchor at `pos`; returns the one that goes at the
    /// end of its line (the last attached comment, if it trailed code).
    fn comments_before(
        &mut self,
        pos: usize,
        indent: usize,
        blank: bool,
        top: bool,
    ) -> Option<String> {
        let slot = self.slots.remove(&pos).unwrap_or_default();
        let mut blank = blank;
        for c in &slot.leading {
            if blank || (top && c.blank_before) {
                self.blank();
            }
            blank = false;
            self.push_line(indent, &c.text, None);
        }
        if blank || (top && !slot.leading.is_empty() && blank_line_before(self.src, pos)) {
            self.blank();
        }
        let mut attached = slot.attached;
        let trailing = if attached.last().is_some_and(|c| !c.own_line) {
            attached.pop()
        } else {
            None
        };
        for c in &attached {
            self.push_line(indent, &c.text, None);
        }
        trailing.map(|c| c.text)
    }

    fn push_line(&mut self, indent: usize, text: &str, trailing: Option<String>) {
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.out.push_str(text);
        if let Some(t) = trailing {
            self.out.push_str("  ");
            self.out.push_str(&t);
        }
        self.out.push('\n');
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn finish(mut self) -> String {
        // Every anchor was visited, so `slots` is empty; draining it anyway loses no comment.
        let rest: Vec<Comment> = std::mem::take(&mut self.slots)
            .into_values()
            .flat_map(|s| s.leading.into_iter().chain(s.attached))
            .chain(std::mem::take(&mut self.tail))
            .collect();
        for c in rest {
            if c.blank_before {
                self.blank();
            }
            self.push_line(0, &c.text, None);
        }
        self.out
    }
}

#[cfg(test)]
mod tests;
