//! `ast_to_model`: looks up every name, applies `--set` and scale overrides, evaluates
//! every expression and interprets every item's properties against its schema.
//! Reports everything it finds; a failed item is left out of the model, not guessed at.

mod blocks;
mod items;
mod masks;
mod post;
mod props;
mod values;

pub use items::item_name;

use crate::ast::{Ast, Attr, Expr, ItemKind};
use crate::diag::{Error, Lint};
use crate::eval::{self, Scope, Value};
use crate::model::{LintAttr, Model, Param};
use crate::span::Span;
use crate::suggest::did_you_mean;
use std::collections::{BTreeMap, HashMap};

/// Parameters defined by parameters defined by ...: at most this deep (evaluation recurses).
pub const MAX_PARAM_CHAIN: usize = 10_000;

/// How to instantiate a file: which scale, which `--set` overrides.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--smoke` is `Some("smoke")`.
    pub scale: Option<String>,
    /// `--set k=v`, in command-line order (later wins).
    pub overrides: Vec<(String, String)>,
}

pub fn ast_to_model(ast: &Ast, opts: &Options) -> (Model, Vec<Error>) {
    let mut errors = Vec::new();
    let mut params = Params::collect(ast, &mut errors);
    params.apply_scale(ast, opts.scale.as_deref(), &mut errors);
    params.apply_overrides(&opts.overrides, &mut errors);

    let mut model = Model {
        name: "model".to_string(),
        ..Model::default()
    };
    let mut seen_model: Option<Span> = None;
    for item in &ast.items {
        if let ItemKind::Model { name } = &item.kind {
            match seen_model {
                Some(first) => errors.push(Error::Duplicate {
                    at: name.span,
                    first,
                    name: name.name.clone(),
                    what: "model name",
                }),
                None => {
                    model.name = name.name.clone();
                    seen_model = Some(name.span);
                }
            }
        }
    }
    model.lints = lints(ast, &mut errors);

    let mut ctx = items::Ctx::new(ast, &mut params);
    ctx.resolve_items(&mut model, &mut errors);
    post::post_checks(&mut model, &ctx, &mut errors);

    // Every parameter's value, in file order (an unused one is still evaluated and shown).
    let names: Vec<(String, Span)> = params.order.clone();
    for (name, span) in names {
        if let Ok(value) = params.lookup(&name, span) {
            let overridden = params.overridden.contains_key(&name);
            model.params.push(Param {
                name,
                value,
                overridden,
                span,
            });
        }
    }
    errors.append(&mut params.errors);
    errors.retain(|e| *e != Error::Poisoned);
    // Said only of a file that is otherwise sound: a half-written one has more to fix first.
    if errors.is_empty() {
        errors.extend(post::not_empty(ast));
    }
    dedup(&mut errors);
    (model, errors)
}

/// Block bodies are evaluated per instantiation; the same mistake is reported once.
fn dedup(errors: &mut Vec<Error>) {
    let mut seen: Vec<Error> = Vec::new();
    errors.retain(|e| {
        if seen.contains(e) {
            false
        } else {
            seen.push(e.clone());
            true
        }
    });
}

fn lints(ast: &Ast, errors: &mut Vec<Error>) -> Vec<LintAttr> {
    let mut out = Vec::new();
    let mut push = |attr: &Attr, item: Option<String>, errors: &mut Vec<Error>| {
        for l in &attr.lints {
            match Lint::from_name(&l.name) {
                Some(lint) => out.push(LintAttr {
                    lint,
                    level: attr.level,
                    item: item.clone(),
                    span: attr.span,
                }),
                None => errors.push(Error::UnknownLint {
                    at: l.span,
                    name: l.name.clone(),
                    suggestion: did_you_mean(&l.name, crate::diag::LINTS.iter().map(|l| l.1)),
                    item: item.clone(),
                }),
            }
        }
    };
    for a in &ast.inner_attrs {
        push(a, None, errors);
    }
    for item in &ast.items {
        let name = items::item_name(&item.kind);
        for a in &item.attrs {
            push(a, Some(name.clone()), errors);
        }
        let body = match &item.kind {
            ItemKind::Block { body, .. } | ItemKind::Trunk { body, .. } => Some(body),
            ItemKind::Stem { body, .. }
            | ItemKind::Head { body, .. }
            | ItemKind::Layer { body, .. }
            | ItemKind::Loop { body, .. } => body.as_ref(),
            _ => None,
        };
        for p in body.map(|b| b.props.as_slice()).unwrap_or_default() {
            for a in &p.attrs {
                push(a, Some(name.clone()), errors);
            }
        }
    }
    out
}

/// The file's parameters: definitions, overrides, and memoised values.
pub(crate) struct Params<'a> {
    defs: HashMap<String, (&'a Expr, Span)>,
    order: Vec<(String, Span)>,
    /// Values from `--set` (win over everything).
    overridden: HashMap<String, Value>,
    /// Definitions replaced by the chosen scale.
    scaled: HashMap<String, &'a Expr>,
    cache: HashMap<String, Option<Value>>,
    stack: Vec<String>,
    errors: Vec<Error>,
}

impl<'a> Params<'a> {
    fn collect(ast: &'a Ast, errors: &mut Vec<Error>) -> Self {
        let mut defs: HashMap<String, (&'a Expr, Span)> = HashMap::new();
        let mut order = Vec::new();
        for item in &ast.items {
            if let ItemKind::Param { name, value } = &item.kind {
                if let Some((_, first)) = defs.get(&name.name) {
                    errors.push(Error::Duplicate {
                        at: name.span,
                        first: *first,
                        name: name.name.clone(),
                        what: "parameter",
                    });
                    continue;
                }
                defs.insert(name.name.clone(), (value, name.span));
                order.push((name.name.clone(), name.span));
            }
        }
        Params {
            defs,
            order,
            overridden: HashMap::new(),
            scaled: HashMap::new(),
            cache: HashMap::new(),
            stack: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|(n, _)| n.as_str())
    }

    fn apply_scale(&mut self, ast: &'a Ast, scale: Option<&str>, errors: &mut Vec<Error>) {
        let mut scales: BTreeMap<&str, Span> = BTreeMap::new();
        let mut chosen = None;
        for item in &ast.items {
            if let ItemKind::Scale { name, assigns } = &item.kind {
                if let Some(first) = scales.get(name.name.as_str()) {
                    errors.push(Error::Duplicate {
                        at: name.span,
                        first: *first,
                        name: name.name.clone(),
                        what: "scale",
                    });
                    continue;
                }
                scales.insert(&name.name, name.span);
                let mut seen: Vec<(&str, Span)> = Vec::new();
                for a in assigns {
                    if !self.defs.contains_key(&a.name.name) {
                        errors.push(Error::UnknownName {
                            at: a.name.span,
                            name: a.name.name.clone(),
                            what: "parameter",
                            suggestion: did_you_mean(&a.name.name, self.names()),
                        });
                    } else if let Some((_, first)) = seen.iter().find(|s| s.0 == a.name.name) {
                        errors.push(Error::Duplicate {
                            at: a.name.span,
                            first: *first,
                            name: a.name.name.clone(),
                            what: "override",
                        });
                    }
                    seen.push((&a.name.name, a.name.span));
                }
                if Some(name.name.as_str()) == scale {
                    chosen = Some(assigns);
                }
            }
        }
        match (scale, chosen) {
            (Some(s), None) => errors.push(Error::BadOverride {
                name: s.to_string(),
                reason: format!("this model declares no `scale {s} {{ ... }}`"),
                suggestion: did_you_mean(s, scales.keys().copied()),
                scale: true,
            }),
            (_, Some(assigns)) => {
                for a in assigns {
                    self.scaled.insert(a.name.name.clone(), &a.value);
                }
            }
            _ => {}
        }
    }

    fn apply_overrides(&mut self, overrides: &[(String, String)], errors: &mut Vec<Error>) {
        for (name, text) in overrides {
            if !self.defs.contains_key(name) {
                errors.push(Error::BadOverride {
                    name: name.clone(),
                    reason: "no parameter has this name".into(),
                    suggestion: did_you_mean(name, self.names()),
                    scale: false,
                });
                continue;
            }
            let t = text.trim();
            let value = match t {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => t
                    .replace('_', "")
                    .parse::<i64>()
                    .ok()
                    .map(Value::Int)
                    .or_else(|| {
                        t.parse::<f64>()
                            .ok()
                            .filter(|f| f.is_finite())
                            .map(Value::Float)
                    }),
            };
            let integer_like = t
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_')
                && !t.is_empty();
            if integer_like && !matches!(value, Some(Value::Int(_))) {
                errors.push(Error::BadOverride {
                    name: name.clone(),
                    reason: format!("`{t}` does not fit in a 64-bit integer"),
                    suggestion: None,
                    scale: false,
                });
                continue;
            }
            match value {
                Some(v) => {
                    self.overridden.insert(name.clone(), v);
                }
                None => errors.push(Error::BadOverride {
                    name: name.clone(),
                    reason: format!("`{t}` is not an integer, a float or a boolean"),
                    suggestion: None,
                    scale: false,
                }),
            }
        }
    }
}

impl Scope for Params<'_> {
    fn lookup(&mut self, name: &str, at: Span) -> Result<Value, Error> {
        if let Some(v) = self.overridden.get(name) {
            return Ok(*v);
        }
        if let Some(cached) = self.cache.get(name) {
            return cached.ok_or(Error::Poisoned);
        }
        let Some(&(def, def_span)) = self.defs.get(name) else {
            return Err(Error::UnknownName {
                at,
                name: name.to_string(),
                what: "parameter",
                suggestion: did_you_mean(name, self.names()),
            });
        };
        if let Some(pos) = self.stack.iter().position(|n| n == name) {
            let mut chain: Vec<String> = self.stack[pos..].to_vec();
            chain.push(name.to_string());
            // Under a scale, the scale's expression is the one that closes the cycle.
            let at = self.scaled.get(name).map_or(def_span, |e| e.span);
            return Err(Error::ParamCycle {
                at,
                name: name.to_string(),
                chain,
            });
        }
        // A chain of parameters each defined by the next is evaluated recursively.
        if self.stack.len() >= MAX_PARAM_CHAIN {
            return Err(Error::TooDeep {
                at: def_span,
                limit: MAX_PARAM_CHAIN,
                what: "parameters defined through each other",
            });
        }
        let expr = self.scaled.get(name).copied().unwrap_or(def);
        self.stack.push(name.to_string());
        let result = eval::eval(expr, self);
        self.stack.pop();
        match result {
            Ok(v) => {
                self.cache.insert(name.to_string(), Some(v));
                Ok(v)
            }
            Err(e) => {
                self.cache.insert(name.to_string(), None);
                self.errors.push(e);
                Err(Error::Poisoned)
            }
        }
    }
}
