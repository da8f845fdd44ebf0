//! Lint attributes of a decompiled IR: file-level ones as inner attributes, item-level
//! ones on the item they name.

use super::key;
use super::syntax::ident;
use crate::ast::*;
use crate::ir::read::{Seg, Spanned};
use crate::ir::Ir;

/// Item-level lint attributes go on the item they name (a lint naming no item is kept at
/// file level, where the comparison with the document reports it).
pub(super) fn attach_item_lints(ir: &Ir, doc: &Spanned, ast: &mut Ast) {
    let mut by_name: std::collections::HashMap<String, usize> = Default::default();
    for (k, it) in ast.items.iter().enumerate() {
        if !matches!(
            it.kind,
            ItemKind::Block { .. } | ItemKind::Param { .. } | ItemKind::Model { .. }
        ) {
            by_name
                .entry(crate::resolve::item_name(&it.kind))
                .or_insert(k);
        }
    }
    for (i, l) in ir.lints.iter().enumerate() {
        let Some(name) = &l.item else { continue };
        let attr = lint_attr(ir, doc, i);
        match by_name.get(name) {
            Some(&k) => ast.items[k].attrs.push(attr),
            None => ast.inner_attrs.push(attr),
        }
    }
}

pub(super) fn lint_attr(ir: &Ir, doc: &Spanned, i: usize) -> Attr {
    let l = &ir.lints[i];
    let path = [key("lints"), Seg::Index(i)];
    let level = match l.level.as_str() {
        "allow" => LintLevel::Allow,
        "warn" => LintLevel::Warn,
        _ => LintLevel::Deny,
    };
    let name_span = doc.span_at(&[path[0].clone(), path[1].clone(), key("lint")]);
    Attr {
        level,
        lints: vec![ident(&l.lint, name_span)],
        span: doc.span_at(&path),
    }
}
