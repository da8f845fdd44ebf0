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

/// The source positions that start an output line, sorted.
fn anchors(ast: &Ast, src: &str) -> Vec<usize> {
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
fn header_pos(item: &Item, src: &str) -> usize {
    next_code(src, item.attrs.last().map_or(item.span.lo, |a| a.span.hi))
}

/// Where a body's closing `}` is.
fn close_pos(body: &Body) -> usize {
    body.span.hi.saturating_sub(1)
}

/// The first position at or after `pos` that is neither whitespace nor inside a comment.
fn next_code(src: &str, mut pos: usize) -> usize {
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
fn blank_line_before(src: &str, pos: usize) -> bool {
    let before = &src[..pos];
    let code = before.trim_end_matches([' ', '\t', '\r', '\n']);
    !code.is_empty() && before[code.len()..].matches('\n').count() >= 2
}

/// Every `//` comment of `src` in order, skipping `//` inside strings.
fn scan_comments(src: &str) -> Vec<Comment> {
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

fn body_of(kind: &ItemKind) -> Option<&Body> {
    match kind {
        ItemKind::Block { body, .. } | ItemKind::Trunk { body, .. } => Some(body),
        ItemKind::Stem { body, .. }
        | ItemKind::Head { body, .. }
        | ItemKind::Layer { body, .. }
        | ItemKind::Loop { body, .. } => body.as_ref(),
        _ => None,
    }
}

fn has_body(item: &Item) -> bool {
    body_of(&item.kind).is_some()
}

fn attr_text(a: &Attr, inner: bool) -> String {
    let lints: Vec<&str> = a.lints.iter().map(|l| l.name.as_str()).collect();
    format!(
        "#{}[{}({})]",
        if inner { "!" } else { "" },
        a.level.as_str(),
        lints.join(", ")
    )
}

/// An item's line, without its body's `{`.
fn header(kind: &ItemKind, param_width: usize, src: &str) -> String {
    let e = |e: &Expr| expr_text(e, src);
    let c = |c: &Call| call_text(c, src);
    match kind {
        ItemKind::Model { name } => format!("model {}", name.name),
        ItemKind::Param { name, value } => {
            format!("param {:<param_width$} = {}", name.name, e(value))
        }
        ItemKind::Scale { name, assigns } if assigns.is_empty() => {
            format!("scale {} {{}}", name.name)
        }
        ItemKind::Scale { name, assigns } => {
            let a: Vec<String> = assigns
                .iter()
                .map(|a| format!("{} = {}", a.name.name, e(&a.value)))
                .collect();
            format!("scale {} {{ {} }}", name.name, a.join(", "))
        }
        ItemKind::Block { name, params, .. } if params.is_empty() => format!("block {}", name.name),
        ItemKind::Block { name, params, .. } => {
            let ps: Vec<String> = params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{} = {}", p.name.name, e(d)),
                    None => p.name.name.clone(),
                })
                .collect();
            format!("block {}({})", name.name, ps.join(", "))
        }
        ItemKind::Stem { name, kind, .. } => format!("stem {}: {}", name.name, c(kind)),
        ItemKind::Trunk {
            name: Some(name), ..
        } => format!("trunk {}", name.name),
        ItemKind::Trunk { name: None, .. } => "trunk".to_string(),
        ItemKind::Head { name, kind, .. } => format!("head {}: {}", name.name, c(kind)),
        ItemKind::Layer { name, kind, .. } => format!("layer {}: {}", name.name, c(kind)),
        ItemKind::Alias { name, target } => format!("let {} = {}", name.name, target.text()),
        ItemKind::Loop { name, from, to, .. } => {
            format!("loop {}: {} -> {}", name.name, from.text(), to.text())
        }
        ItemKind::Mask { modality, kind } => format!("mask {}: {}", modality.name, c(kind)),
    }
}

fn call_text(c: &Call, src: &str) -> String {
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, expr_text(&a.value, src)),
            None => expr_text(&a.value, src),
        })
        .collect();
    format!("{}({})", c.name.name, args.join(", "))
}

/// An expression on one line. The parser folds operators by precedence and keeps the
/// user's parentheses as `Paren`, so printing without adding any re-parses to the same tree.
fn expr_text(e: &Expr, src: &str) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => float_text(*v),
        ExprKind::Str(s) => format!("\"{s}\""),
        ExprKind::Path(p) => p.text(),
        ExprKind::Call(c) => call_text(c, src),
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(|i| expr_text(i, src)).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Neg(inner) => format!("-{}", expr_text(inner, src)),
        ExprKind::Binary(op, l, r) => {
            format!(
                "{} {} {}",
                expr_text(l, src),
                op.as_str(),
                expr_text(r, src)
            )
        }
        ExprKind::Range(l, r) => format!("{}..{}", expr_text(l, src), expr_text(r, src)),
        ExprKind::Repeat(l, r) => format!("{} x {}", expr_text(l, src), expr_text(r, src)),
        ExprKind::Paren(inner) => format!("({})", expr_text(inner, src)),
        // Not in a file that parsed without errors; keep what was written.
        ExprKind::Error => src
            .get(e.span.lo..e.span.hi)
            .unwrap_or_default()
            .to_string(),
    }
}

/// The shortest text that reads back as the same `f64` (`1e-5`, `10000.0`, `1.5e300`), and
/// always as a float: `{:?}` writes a `.` or an exponent for every finite value.
fn float_text(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::source_to_ast;

    /// The AST's debug text with every span removed: equal iff the trees are equal modulo spans.
    fn shape(ast: &Ast) -> String {
        let text = format!("{ast:?}");
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("Span { lo: ") {
            out.push_str(&rest[..at]);
            let end = rest[at..]
                .find('}')
                .expect("a span's debug text ends with }");
            rest = &rest[at + end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn parse(src: &str) -> Ast {
        let (ast, errors) = source_to_ast(src);
        assert!(errors.is_empty(), "errors {errors:?} in:\n{src}");
        ast
    }

    fn texts(src: &str) -> Vec<String> {
        scan_comments(src).into_iter().map(|c| c.text).collect()
    }

    /// Formats `src` and checks every property the formatter promises; returns the output.
    fn check(src: &str) -> String {
        let ast = parse(src);
        let once = ast_to_source(&ast, src);
        let again = parse(&once);
        assert_eq!(shape(&ast), shape(&again), "the AST changed:\n{once}");
        assert_eq!(
            texts(src),
            texts(&once),
            "comments lost, duplicated or reordered:\n{once}"
        );
        let twice = ast_to_source(&again, &once);
        assert_eq!(once, twice, "not idempotent");
        assert!(
            once.ends_with('\n') && !once.ends_with("\n\n"),
            "bad file end:\n{once:?}"
        );
        once
    }

    const GPT2: &str =
        "// GPT-2 small (Radford et al. 2019): 124,439,808 parameters with tied embeddings.
model gpt2_small

param d      = 768
param layers = 12
param heads  = 12
param vocab  = 50257
param ctx    = 1024

scale smoke { d = 64, layers = 2, heads = 2, vocab = 256, ctx = 64 }

block gpt2(width = d) {
  width:     width
  norm:      layernorm(bias = true, eps = 1e-5)
  placement: pre
  attention: attention(heads = heads, positions = none, bias = true)
  mlp:       gelu(hidden = 4 * width, bias = true)
}

stem text: tokens(vocab = vocab, max_len = ctx) {
  embed:     embedding(dim = d)
  positions: learned(max_len = ctx)
}

trunk {
  blocks: gpt2 x layers
}

head lm: text(target = text) {
  norm:       layernorm(bias = true, eps = 1e-5)
  projection: tied(text.embed)
  objective:  next_token
}
";

    const MULTIMODAL: &str = r#"#![allow(output_latent_sharing, unused_stem)]
#![warn(unused_head)]

// A Janus-like model: text and image in, text and image out.
model janus_like

// Sizes
param d        = 2048
param heads    = 16
param head_dim = d / heads
param theta    = 10000.0

// Training
param rate_hi = 0.5  // the MAE upper bound

scale smoke { d = 64, heads = 2 }

block llama(width = d, heads = 32, kv_heads = heads) {
  width:     width
  norm:      rmsnorm(eps = 1e-6)
  attention: attention(heads = heads, kv_heads = kv_heads, positions = rope(theta = theta))
  mlp:       swiglu(hidden = ceil_div(8 * width, 3))
}

stem image: features(dim = 1024, rows = 576) {  // SigLIP-L/16 @ 384 px
  adapter: mlp(layers = 2, hidden = d, out = d)
  blocks:  llama x 1
}

trunk {
  from:   [text, image]
  blocks: [llama(heads = 8) x 2, llama x 30]
}

#[allow(output_latent_sharing)]
head lm: text(target = text) {
  norm:       rmsnorm(eps = 1e-6)
  // the projection reads the output latent
  projection: linear(bias = false)
  objective:  next_token(weight = 1.0, z_loss = 1e-5)
  // nothing after the objective
}

head pix: features(target = image) {
  #[deny(unknown_lint)]
  from:      trunk.blocks.31.out
  objective: masked_regression(shift = 1, loss = mse)
}

layer z: norm(rmsnorm) {
  from: lm.out
}

let latent = z.out
let mid = trunk.blocks.15

loop think: trunk.out -> trunk.in {
  steps:  entropy(head = lm, threshold = 2.0, max = 8)
  inject: add
}

mask image: bidirectional()
mask text: mask_tokens(rate = 0.0..rate_hi)
mask image: scales(1, 2, 4, 8)

// end of file
"#;

    const MESSY: &str = "  model   m param d=768 param layers =12
#[allow(x)]   param   ff= 4*d+ - 1
scale s{d=1,layers=2;} stem text:tokens(vocab=1,max_len=2){embed:embedding(dim=d),positions:learned(max_len=2);}
trunk{blocks:[b x 2,b(w=1)x 3,]} block b(w=d,){width:w norm:rmsnorm(eps=1e-5) attention:attention(heads=2) mlp:gelu(hidden=(d+1)*2)}
  head lm:text(target=text) mask text:prefix(len=-(3))";

    #[test]
    fn gpt2_from_the_docs_is_already_canonical() {
        assert_eq!(check(GPT2), GPT2);
    }

    #[test]
    fn multimodal_file_is_a_fixed_point() {
        assert_eq!(check(MULTIMODAL), MULTIMODAL);
    }

    #[test]
    fn comments_everywhere_survive() {
        for file in [GPT2, MULTIMODAL] {
            let mut src = String::new();
            for (i, line) in file.lines().enumerate() {
                src.push_str(&format!("  // own {i}\n{line} // trailing {i}\n\n"));
            }
            check(&src);
        }
        let split: String = MESSY
            .split(' ')
            .map(|t| format!("{t} // {}\n", t.len()))
            .collect();
        check(&split);
    }

    #[test]
    fn messy_file_is_laid_out() {
        let want = "model m

param d      = 768
param layers = 12
#[allow(x)]
param ff     = 4 * d + -1

scale s { d = 1, layers = 2 }

stem text: tokens(vocab = 1, max_len = 2) {
  embed:     embedding(dim = d)
  positions: learned(max_len = 2)
}

trunk {
  blocks: [b x 2, b(w = 1) x 3]
}

block b(w = d) {
  width:     w
  norm:      rmsnorm(eps = 1e-5)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = (d + 1) * 2)
}

head lm: text(target = text)

mask text: prefix(len = -(3))
";
        assert_eq!(check(MESSY), want);
    }

    #[test]
    fn comments_keep_their_places() {
        let src = "// header

#![allow(a)] // why
// before model
model m // trailing model

// section
param a = 1 // one
   // about b
param bb = 2
trunk { // open
  // lead
  blocks: b x 2  // two
  // closing
} // after close
// eof 1

// eof 2
";
        let want = "// header

#![allow(a)]  // why

// before model
model m  // trailing model

// section
param a  = 1  // one
// about b
param bb = 2

trunk {  // open
  // lead
  blocks: b x 2  // two
  // closing
}  // after close
// eof 1

// eof 2
";
        assert_eq!(check(src), want);
    }

    #[test]
    fn comments_inside_one_line_constructs_move_before_them() {
        let src = "scale s { // why small
  // d first
  d = 1,
  layers = 2 }  // end
block b(
  // the width
  width = d, // d
  heads = 2
) {
  mlp: gelu(hidden = 4, // hidden
            bias = true) // bias
}
";
        assert_eq!(
            check(src),
            "// why small
// d first
scale s { d = 1, layers = 2 }  // end

// the width
block b(width = d, heads = 2) {  // d
  // hidden
  mlp: gelu(hidden = 4, bias = true)  // bias
}
"
        );
    }

    #[test]
    fn attrs_block_params_empty_bodies_scales_and_strings() {
        for (src, want) in [
            (
                "#[allow(a,b)] #[deny(c)] layer z: norm(rmsnorm) { #[warn(d)] from: lm.out }",
                "#[allow(a, b)]\n#[deny(c)]\nlayer z: norm(rmsnorm) {\n  #[warn(d)]\n  from: lm.out\n}\n",
            ),
            (
                "block a(width, heads = 2) { width: width }\nblock b() {}\ntrunk t {}",
                "block a(width, heads = 2) {\n  width: width\n}\n\nblock b {}\n\ntrunk t {}\n",
            ),
            (
                "scale smoke {\n d = 64;\n layers = 2\n}\nscale none {}\n",
                "scale smoke { d = 64, layers = 2 }\nscale none {}\n",
            ),
            (
                "head h: text(target = t, note = \"http://x\") // real\n",
                "head h: text(target = t, note = \"http://x\")  // real\n",
            ),
        ] {
            assert_eq!(check(src), want);
        }
        assert_eq!(
            texts("param s = \"//\" // real"),
            vec!["// real".to_string()]
        );
    }

    #[test]
    fn param_runs_align_and_blank_lines_split_them() {
        let src = "param a = 1\nparam long_name = 2\n\n// next group\nparam b = 3\nparam cc = 4\nlet x = a\nlet yy = b.out\n";
        let want = "param a         = 1\nparam long_name = 2\n\n// next group\nparam b  = 3\nparam cc = 4\n\nlet x = a\nlet yy = b.out\n";
        assert_eq!(check(src), want);
    }

    #[test]
    fn expressions() {
        let src = "trunk { a: [1,2 ,3] b: 0.0 .. 1.0 c: x.blocks.3..x.blocks.4 d: -1 e: - - 2.5 f: ((a)) g: a-(b-c)%2 h: [] i: f() j: \"s t\" }";
        let want = "trunk {
  a: [1, 2, 3]
  b: 0.0..1.0
  c: x.blocks.3..x.blocks.4
  d: -1
  e: --2.5
  f: ((a))
  g: a - (b - c) % 2
  h: []
  i: f()
  j: \"s t\"
}
";
        assert_eq!(check(src), want);
    }

    #[test]
    fn numbers_read_back_the_same() {
        for (lit, want) in [
            ("50_257", "50257"),
            ("10000.0", "10000.0"),
            ("1e-5", "1e-5"),
            ("1E5", "100000.0"),
            ("1e20", "1e20"),
            ("1e-7", "1e-7"),
            ("2.5e300", "2.5e300"),
            ("0.02", "0.02"),
            ("9223372036854775807", "9223372036854775807"),
        ] {
            let src = format!("param p = {lit}\nparam n = -{lit}\n");
            let out = check(&src);
            assert_eq!(out, format!("param p = {want}\nparam n = -{want}\n"));
        }
    }

    #[test]
    fn only_comments_and_empty_files() {
        assert_eq!(check("// one\n\n\n// two"), "// one\n\n// two\n");
        assert_eq!(ast_to_source(&parse(""), ""), "");
    }
}
