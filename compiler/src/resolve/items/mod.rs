//! Interpreting stems, the trunk, heads, layers, aliases, loops and masks.

use super::blocks::{instantiate, instantiate_list, name_choice, norm, positive_float, BlockDef};
use super::props::{as_call, boolean, choice, size, Args, Props};
use super::values::{mlp_stack, objective, projection};
use super::Params;
use crate::ast::{Ast, Body, Call, Expr, ExprKind, ItemKind};
use crate::diag::Error;
use crate::eval;
use crate::model::*;
use crate::span::Span;
use crate::suggest::did_you_mean;
use std::collections::HashMap;

mod heads;
mod stem;

pub struct Ctx<'a, 'p> {
    ast: &'a Ast,
    pub(super) params: &'p mut Params<'a>,
    pub(super) defs: HashMap<&'a str, BlockDef<'a>>,
    pub(super) used_defs: std::collections::HashSet<String>,
    total_blocks: u64,
    /// (name, kind) of every stem item, including those that failed to resolve.
    pub(super) stem_kinds: Vec<(String, String)>,
}

/// The name an item is known by (for lint attributes and duplicates).
pub fn item_name(kind: &ItemKind) -> String {
    match kind {
        ItemKind::Model { name }
        | ItemKind::Param { name, .. }
        | ItemKind::Scale { name, .. }
        | ItemKind::Block { name, .. }
        | ItemKind::Stem { name, .. }
        | ItemKind::Head { name, .. }
        | ItemKind::Layer { name, .. }
        | ItemKind::Alias { name, .. }
        | ItemKind::Loop { name, .. } => name.name.clone(),
        ItemKind::Trunk { name, .. } => name.as_ref().map_or("trunk".into(), |n| n.name.clone()),
        ItemKind::Mask { modality, .. } => modality.name.clone(),
    }
}

impl<'a, 'p> Ctx<'a, 'p> {
    pub fn new(ast: &'a Ast, params: &'p mut Params<'a>) -> Self {
        Ctx {
            ast,
            params,
            defs: HashMap::new(),
            used_defs: Default::default(),
            total_blocks: 0,
            stem_kinds: Vec::new(),
        }
    }

    pub fn resolve_items(&mut self, model: &mut Model, errors: &mut Vec<Error>) {
        let ast = self.ast;
        for item in &ast.items {
            if let ItemKind::Block { name, params, body } = &item.kind {
                for (i, p) in params.iter().enumerate() {
                    if let Some(first) = params[..i].iter().find(|q| q.name.name == p.name.name) {
                        errors.push(Error::Duplicate {
                            at: p.name.span,
                            first: first.name.span,
                            name: p.name.name.clone(),
                            what: "block argument",
                        });
                    }
                }
                if let Some(first) = self.defs.get(name.name.as_str()) {
                    errors.push(Error::Duplicate {
                        at: name.span,
                        first: first.name.span,
                        name: name.name.clone(),
                        what: "block",
                    });
                    continue;
                }
                self.defs.insert(
                    &name.name,
                    BlockDef {
                        name,
                        params,
                        body,
                        span: item.span,
                    },
                );
            }
        }
        // One namespace for everything a port can name.
        let mut names: HashMap<String, Span> = HashMap::new();
        for item in &ast.items {
            let named = match &item.kind {
                ItemKind::Stem { name, .. }
                | ItemKind::Head { name, .. }
                | ItemKind::Layer { name, .. } => Some((name.name.clone(), name.span)),
                ItemKind::Alias { name, .. } | ItemKind::Loop { name, .. } => {
                    Some((name.name.clone(), name.span))
                }
                ItemKind::Trunk { name, .. } => Some(name.as_ref().map_or(
                    ("trunk".into(), Span::new(item.span.lo, item.span.lo + 5)),
                    |n| (n.name.clone(), n.span),
                )),
                _ => None,
            };
            let is_trunk = matches!(item.kind, ItemKind::Trunk { .. });
            if let Some((n, span)) = named {
                if let (Some(first), false) = (names.get(&n), is_trunk && model.trunk.is_some()) {
                    errors.push(Error::Duplicate {
                        at: span,
                        first: *first,
                        name: n,
                        what: "name",
                    });
                    continue;
                }
                names.insert(n, span);
            }
            match &item.kind {
                ItemKind::Stem { name, kind, body } => {
                    self.stem_kinds
                        .push((name.name.clone(), kind.name.name.clone()));
                    if let Some(s) = self.stem(&name.name, name.span, kind, body.as_ref(), errors) {
                        model.stems.push(s);
                    }
                }
                ItemKind::Trunk { name, body } => {
                    let span = name
                        .as_ref()
                        .map_or(Span::new(item.span.lo, item.span.lo + "trunk".len()), |n| {
                            n.span
                        });
                    let name = name
                        .as_ref()
                        .map_or("trunk".to_string(), |n| n.name.clone());
                    if let Some(first) = &model.trunk {
                        errors.push(Error::MultipleTrunks {
                            at: span,
                            first: first.span,
                        });
                        continue;
                    }
                    model.trunk = self.trunk(name, span, body, errors);
                }
                ItemKind::Head { name, kind, body } => {
                    if let Some(h) = self.head(&name.name, name.span, kind, body.as_ref(), errors) {
                        model.heads.push(h);
                    }
                }
                ItemKind::Layer { name, kind, body } => {
                    if let Some(l) = self.layer(&name.name, name.span, kind, body.as_ref(), errors)
                    {
                        model.layers.push(l);
                    }
                }
                ItemKind::Alias { name, target } => model.aliases.push(Alias {
                    name: name.name.clone(),
                    span: name.span,
                    target: PortRef {
                        path: target.segments.iter().map(|s| s.name.clone()).collect(),
                        span: target.span,
                    },
                }),
                ItemKind::Loop {
                    name,
                    from,
                    to,
                    body,
                } => {
                    if let Some(l) =
                        self.looped(&name.name, name.span, from, to, body.as_ref(), errors)
                    {
                        model.loops.push(l);
                    }
                }
                ItemKind::Mask { modality, kind } => {
                    if let Some(region) = self.region(kind, errors) {
                        model.masks.push(Mask {
                            modality: modality.name.clone(),
                            modality_span: modality.span,
                            region,
                            span: item.span,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn blocks(&mut self, e: &Expr, errors: &mut Vec<Error>) -> Vec<BlockSpec> {
        instantiate_list(
            e,
            &self.defs,
            &mut self.used_defs,
            &mut self.total_blocks,
            self.params,
            errors,
        )
    }

    fn trunk(
        &mut self,
        name: String,
        span: Span,
        body: &Body,
        errors: &mut Vec<Error>,
    ) -> Option<Trunk> {
        let props = Props::new(
            if name == "trunk" {
                "the trunk".to_string()
            } else {
                format!("trunk `{name}`")
            },
            span,
            Some(body),
            &["from", "blocks", "norm"],
            errors,
        );
        let from = props.get("from").map(|e| {
            let ports: Vec<PortRef> = match &e.kind {
                ExprKind::List(items) => items.iter().filter_map(|i| port(i, errors)).collect(),
                _ => port(e, errors).into_iter().collect(),
            };
            // A stem listed twice would be merged into the sequence twice.
            let mut firsts: std::collections::HashMap<&[String], Span> = Default::default();
            for p in &ports {
                let key = p.path.strip_suffix(&["out".to_string()]).unwrap_or(&p.path);
                match firsts.get(key) {
                    Some(&first) => errors.push(Error::Duplicate {
                        at: p.span,
                        first,
                        name: p.text(),
                        what: "trunk input",
                    }),
                    None => {
                        firsts.insert(key, p.span);
                    }
                }
            }
            ports
        });
        let blocks = props
            .require("blocks", "blocks: decoder x 12", errors)
            .map(|e| self.blocks(e, errors))
            .unwrap_or_default();
        let p = &mut *self.params;
        let norm = props
            .get("norm")
            .and_then(|e| norm(e, p, errors).map(|n| (n, e.span)));
        Some(Trunk {
            name,
            span,
            from,
            blocks,
            norm,
        })
    }
}

pub const MAX_LOOP_STEPS: i64 = 1024;

pub(super) fn call_of(
    e: &Expr,
    expected_name: &str,
    example: &str,
    errors: &mut Vec<Error>,
) -> Option<Call> {
    match as_call(e) {
        Some(c) if expected_name.is_empty() || c.name.name == expected_name => Some(c),
        Some(_) => {
            errors.push(eval::wrong(e, example));
            None
        }
        None => {
            errors.push(eval::wrong(e, example));
            None
        }
    }
}

fn port(e: &Expr, errors: &mut Vec<Error>) -> Option<PortRef> {
    match &e.kind {
        ExprKind::Path(p) => Some(PortRef {
            path: p.segments.iter().map(|s| s.name.clone()).collect(),
            span: p.span,
        }),
        _ => {
            errors.push(eval::wrong(
                e,
                "a port, like `trunk.out` or `text.blocks.0.out`",
            ));
            None
        }
    }
}
