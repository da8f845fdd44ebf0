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

    fn stem(
        &mut self,
        name: &str,
        span: Span,
        kind: &Call,
        body: Option<&Body>,
        errors: &mut Vec<Error>,
    ) -> Option<Stem> {
        let kname = choice(
            &kind.name.name,
            kind.name.span,
            "stem kind",
            &["tokens", "features", "codes"],
            errors,
        )?;
        let mut args = Args::new(kind);
        let p = &mut *self.params;
        let before = errors.len();
        let skind = match kname {
            "tokens" => {
                let vocab = args
                    .require(
                        "vocab",
                        Some(0),
                        "tokens(vocab = 50257, max_len = 1024)",
                        errors,
                    )
                    .and_then(|e| size(e, "a vocabulary size", p, errors));
                let max_len = args
                    .require(
                        "max_len",
                        Some(1),
                        "tokens(vocab = 50257, max_len = 1024)",
                        errors,
                    )
                    .and_then(|e| size(e, "a maximum length", p, errors));
                StemKind::Tokens {
                    vocab: vocab.unwrap_or(1),
                    max_len: max_len.unwrap_or(1),
                }
            }
            "features" => {
                let dim = args
                    .require("dim", Some(0), "features(dim = 1024, rows = 576)", errors)
                    .and_then(|e| size(e, "a feature width", p, errors));
                let rows = args
                    .require("rows", Some(1), "features(dim = 1024, rows = 576)", errors)
                    .and_then(|e| size(e, "a row count", p, errors));
                let frozen = args
                    .get("frozen", None)
                    .map_or(Some(true), |e| boolean(e, p, errors));
                StemKind::Features {
                    dim: dim.unwrap_or(1),
                    rows: rows.unwrap_or(1),
                    frozen: frozen.unwrap_or(true),
                }
            }
            _ => {
                let codebook = args
                    .require(
                        "codebook",
                        Some(0),
                        "codes(codebook = 16384, rows = 576)",
                        errors,
                    )
                    .and_then(|e| size(e, "a codebook size", p, errors));
                let rows = args
                    .require(
                        "rows",
                        Some(1),
                        "codes(codebook = 16384, rows = 576)",
                        errors,
                    )
                    .and_then(|e| size(e, "a row count", p, errors));
                StemKind::Codes {
                    codebook: codebook.unwrap_or(1),
                    rows: rows.unwrap_or(1),
                }
            }
        };
        args.finish(errors);
        let keys: &[&str] = match skind {
            StemKind::Features { .. } => &["positions", "adapter", "blocks", "from"],
            _ => &["embed", "positions", "adapter", "blocks", "from"],
        };
        let props = Props::new(format!("stem `{name}`"), span, body, keys, errors);
        let (vocab, default_len) = match skind {
            StemKind::Tokens { vocab, max_len } => (vocab, max_len),
            StemKind::Codes { codebook, rows } => (codebook, rows),
            StemKind::Features { rows, .. } => (0, rows),
        };
        let p = &mut *self.params;
        let embed = props.get("embed").and_then(|e| {
            let call = call_of(e, "", "`embedding(dim = d)`", errors)?;
            let next_scale = match call.name.name.as_str() {
                "embedding" => false,
                "next_scale" if matches!(skind, StemKind::Codes { .. }) => true,
                "next_scale" => {
                    errors.push(eval::wrong(
                        e,
                        "`embedding(dim = d)` (`next_scale` embeds a `codes` stem)",
                    ));
                    return None;
                }
                _ => {
                    errors.push(eval::wrong(
                        e,
                        if matches!(skind, StemKind::Codes { .. }) {
                            "`embedding(dim = d)` or `next_scale(dim = d)`"
                        } else {
                            "`embedding(dim = d)`"
                        },
                    ));
                    return None;
                }
            };
            let mut a = Args::new(&call);
            let dim = a
                .require("dim", Some(0), "embedding(dim = 768)", errors)
                .and_then(|d| size(d, "an embedding width", p, errors));
            let frozen = a
                .get("frozen", None)
                .map_or(Some(false), |f| boolean(f, p, errors));
            a.finish(errors);
            Some((
                Embedding {
                    vocab,
                    dim: dim?,
                    frozen: frozen?,
                    next_scale,
                },
                e.span,
            ))
        });
        if embed.is_none()
            && props.get("embed").is_none()
            && !matches!(skind, StemKind::Features { .. })
        {
            errors.push(Error::MissingKey {
                at: span,
                key: "embed",
                item: format!("stem `{name}`"),
                example: "embed: embedding(dim = d)",
            });
        }
        let positions = props.get("positions").and_then(|e| {
            let call = call_of(e, "learned", "`learned(max_len = 1024)`", errors)?;
            let mut a = Args::new(&call);
            let len = match a.get("max_len", Some(0)) {
                Some(l) => {
                    let len = size(l, "a maximum length", p, errors)?;
                    // Every position the stem holds needs a row of the table.
                    if len < default_len {
                        errors.push(Error::PositionsTooShort {
                            at: l.span,
                            stem: name.to_string(),
                            max_len: len,
                            rows: default_len,
                        });
                    }
                    len
                }
                None => default_len,
            };
            a.finish(errors);
            Some((len, e.span))
        });
        let adapter = props
            .get("adapter")
            .and_then(|e| mlp_stack(e, p, errors).map(|m| (m, e.span)));
        let blocks = props
            .get("blocks")
            .map(|e| self.blocks(e, errors))
            .unwrap_or_default();
        // A stem is where the model's data comes in: a hidden state is transformed by a
        // `layer`, which the output-latent rule and the unused checks see.
        if let Some(e) = props.get("from") {
            errors.push(Error::BadPort {
                at: e.span,
                path: match &e.kind {
                    ExprKind::Path(p) => p.text(),
                    _ => String::new(),
                },
                reason: "a stem reads the model's data, not a port: transform a hidden state with a `layer` (`layer NAME: mlp(...) { from: PORT }`)".into(),
            });
        }
        if errors.len() > before {
            return None;
        }
        Some(Stem {
            name: name.to_string(),
            span,
            kind: skind,
            embed,
            positions,
            adapter,
            blocks,
        })
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

    fn head(
        &mut self,
        name: &str,
        span: Span,
        kind: &Call,
        body: Option<&Body>,
        errors: &mut Vec<Error>,
    ) -> Option<Head> {
        let kname = choice(
            &kind.name.name,
            kind.name.span,
            "head kind",
            &["text", "codes", "features", "diffusion", "classifier"],
            errors,
        )?;
        let mut args = Args::new(kind);
        let p = &mut *self.params;
        let before = errors.len();
        let hkind = match kname {
            "text" => HeadKind::Text,
            "codes" => HeadKind::Codes,
            "features" => HeadKind::Features,
            "diffusion" => HeadKind::Diffusion,
            _ => {
                let classes = args
                    .require("classes", Some(0), "classifier(classes = 1000)", errors)
                    .and_then(|e| size(e, "a class count", p, errors));
                HeadKind::Classifier {
                    classes: classes.unwrap_or(1),
                }
            }
        };
        let target = if matches!(hkind, HeadKind::Classifier { .. }) {
            None
        } else {
            args.get("target", Some(0)).and_then(|e| match e.as_name() {
                Some(n) => Some((n.name.clone(), n.span)),
                None => {
                    errors.push(eval::wrong(e, "the name of a stem"));
                    None
                }
            })
        };
        args.finish(errors);
        let props = Props::new(
            format!("head `{name}`"),
            span,
            body,
            &["from", "blocks", "norm", "projection", "objective"],
            errors,
        );
        let from = match props.get("from") {
            Some(e) => port(e, errors)?,
            None => PortRef {
                path: vec!["trunk".into(), "out".into()],
                span: kind.span,
            },
        };
        let blocks = props
            .get("blocks")
            .map(|e| self.blocks(e, errors))
            .unwrap_or_default();
        let p = &mut *self.params;
        let norm = props
            .get("norm")
            .and_then(|e| norm(e, p, errors).map(|n| (n, e.span)));
        let default_projection = if matches!(hkind, HeadKind::Diffusion) {
            Projection::None
        } else {
            Projection::Linear { bias: false }
        };
        let projection = match props.get("projection") {
            None => (default_projection, span),
            Some(e) => (projection(e, p, errors)?, e.span),
        };
        let objective = props.get("objective").and_then(|e| objective(e, p, errors));
        if errors.len() > before {
            return None;
        }
        Some(Head {
            name: name.to_string(),
            span,
            kind: hkind,
            target,
            from,
            blocks,
            norm,
            projection,
            objective,
        })
    }

    fn layer(
        &mut self,
        name: &str,
        span: Span,
        kind: &Call,
        body: Option<&Body>,
        errors: &mut Vec<Error>,
    ) -> Option<Layer> {
        let props = Props::new(format!("layer `{name}`"), span, body, &["from"], errors);
        let from = props
            .require("from", "from: trunk.out", errors)
            .and_then(|e| port(e, errors));
        let p = &mut *self.params;
        let lkind = match kind.name.name.as_str() {
            "linear" => {
                let mut a = Args::new(kind);
                let out = a
                    .require("out", Some(0), "linear(out = 768)", errors)
                    .and_then(|e| size(e, "an output width", p, errors));
                let bias = a
                    .get("bias", None)
                    .map_or(Some(false), |b| boolean(b, p, errors));
                a.finish(errors);
                LayerKind::Linear {
                    out: out?,
                    bias: bias?,
                }
            }
            "norm" => {
                let mut a = Args::new(kind);
                let inner = a.require("kind", Some(0), "norm(rmsnorm)", errors)?;
                a.finish(errors);
                LayerKind::Norm(norm(inner, p, errors)?)
            }
            "mlp" => LayerKind::Mlp(mlp_stack(
                &Expr {
                    kind: ExprKind::Call(kind.clone()),
                    span: kind.span,
                },
                p,
                errors,
            )?),
            other if self.defs.contains_key(other) => {
                let e = Expr {
                    kind: ExprKind::Call(kind.clone()),
                    span: kind.span,
                };
                LayerKind::Block(instantiate(
                    &e,
                    &self.defs,
                    &mut self.used_defs,
                    self.params,
                    errors,
                )?)
            }
            other => {
                let mut choices = vec!["linear", "norm", "mlp"];
                choices.extend(self.defs.keys().copied());
                errors.push(Error::UnknownOption {
                    at: kind.name.span,
                    found: other.to_string(),
                    what: "layer kind",
                    suggestion: did_you_mean(other, choices.iter().copied()),
                    choices: vec!["linear", "norm", "mlp", "a block name"],
                });
                return None;
            }
        };
        Some(Layer {
            name: name.to_string(),
            span,
            kind: lkind,
            from: from?,
        })
    }

    fn looped(
        &mut self,
        name: &str,
        span: Span,
        from: &crate::ast::Path,
        to: &crate::ast::Path,
        body: Option<&Body>,
        errors: &mut Vec<Error>,
    ) -> Option<Loop> {
        let props = Props::new(
            format!("loop `{name}`"),
            span,
            body,
            &["steps", "inject", "shift"],
            errors,
        );
        let p = &mut *self.params;
        let steps_expr = props.require("steps", "steps: fixed(4)", errors)?;
        let call = call_of(
            steps_expr,
            "",
            "`fixed(n)`, `sampled(mean, backprop)` or `entropy(head, threshold, max)`",
            errors,
        )?;
        let kind = choice(
            &call.name.name,
            call.name.span,
            "loop schedule",
            &["fixed", "sampled", "entropy"],
            errors,
        )?;
        let mut a = Args::new(&call);
        let mut gate_span = call.span;
        let count = |a: &mut Args,
                     p: &mut Params,
                     key: &'static str,
                     pos: usize,
                     example: &'static str,
                     errors: &mut Vec<Error>|
         -> Option<u64> {
            let e = a.require(key, Some(pos), example, errors)?;
            let n = super::props::int(e, p, errors)?;
            if !(1..=MAX_LOOP_STEPS).contains(&n) {
                errors.push(Error::LoopSteps {
                    at: e.span,
                    steps: n,
                    max: MAX_LOOP_STEPS,
                });
                return None;
            }
            Some(n as u64)
        };
        let steps = match kind {
            "fixed" => Steps::Fixed {
                n: count(&mut a, p, "n", 0, "fixed(4)", errors)?,
            },
            "sampled" => {
                let mean = count(
                    &mut a,
                    p,
                    "mean",
                    0,
                    "sampled(mean = 32, backprop = 8)",
                    errors,
                );
                let backprop = count(
                    &mut a,
                    p,
                    "backprop",
                    1,
                    "sampled(mean = 32, backprop = 8)",
                    errors,
                );
                Steps::Sampled {
                    mean: mean?,
                    backprop: backprop?,
                }
            }
            _ => {
                let head = a
                    .require(
                        "head",
                        Some(0),
                        "entropy(head = lm, threshold = 2.0, max = 8)",
                        errors,
                    )
                    .and_then(|e| match e.as_name() {
                        Some(n) => {
                            gate_span = n.span;
                            Some(n.name.clone())
                        }
                        None => {
                            errors.push(eval::wrong(e, "the name of a text head"));
                            None
                        }
                    });
                let threshold = a
                    .require(
                        "threshold",
                        Some(1),
                        "entropy(head = lm, threshold = 2.0, max = 8)",
                        errors,
                    )
                    .and_then(|e| positive_float(e, "an entropy threshold", p, errors));
                let max = count(
                    &mut a,
                    p,
                    "max",
                    2,
                    "entropy(head = lm, threshold = 2.0, max = 8)",
                    errors,
                );
                Steps::Entropy {
                    head: head?,
                    threshold: threshold?,
                    max: max?,
                }
            }
        };
        a.finish(errors);
        let inject = match props.get("inject") {
            None => Inject::Add,
            Some(e) => match name_choice(
                e,
                "injection mode",
                &["add", "replace", "concat_linear"],
                errors,
            )? {
                "add" => Inject::Add,
                "replace" => Inject::Replace,
                _ => Inject::ConcatLinear,
            },
        };
        // `shift: 1`: position t receives the source's value at t - 1 (COCONUT).
        let shift = match props.get("shift") {
            None => 0,
            Some(e) => {
                super::props::non_negative_int(e, "a loop shift", &mut *self.params, errors)?
            }
        };
        let path = |p: &crate::ast::Path| PortRef {
            path: p.segments.iter().map(|s| s.name.clone()).collect(),
            span: p.span,
        };
        Some(Loop {
            shift,
            name: name.to_string(),
            span,
            from: path(from),
            to: path(to),
            steps,
            steps_span: steps_expr.span,
            gate_span,
            inject,
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
