//! One-line text of headers, attributes, calls and expressions, as `archc fmt` prints them.

use crate::ast::*;

pub(super) fn body_of(kind: &ItemKind) -> Option<&Body> {
    match kind {
        ItemKind::Block { body, .. } | ItemKind::Trunk { body, .. } => Some(body),
        ItemKind::Stem { body, .. }
        | ItemKind::Head { body, .. }
        | ItemKind::Layer { body, .. }
        | ItemKind::Loop { body, .. } => body.as_ref(),
        _ => None,
    }
}

pub(super) fn has_body(item: &Item) -> bool {
    body_of(&item.kind).is_some()
}

pub(super) fn attr_text(a: &Attr, inner: bool) -> String {
    let lints: Vec<&str> = a.lints.iter().map(|l| l.name.as_str()).collect();
    format!(
        "#{}[{}({})]",
        if inner { "!" } else { "" },
        a.level.as_str(),
        lints.join(", ")
    )
}

/// An item's line, without its body's `{`.
pub(super) fn header(kind: &ItemKind, param_width: usize, src: &str) -> String {
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

pub(super) fn call_text(c: &Call, src: &str) -> String {
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
pub(super) fn expr_text(e: &Expr, src: &str) -> String {
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
pub(super) fn float_text(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}
