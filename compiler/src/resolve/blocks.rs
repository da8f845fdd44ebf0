//! Block definitions and their instantiation: `blocks: [llama(heads = 8) x 2, llama x 30]`.

use super::props::{as_call, boolean, choice, float, size, Args, Props};
use super::Params;
use crate::ast::{BlockParam, Body, Expr, ExprKind, Ident};
use crate::diag::Error;
use crate::eval::{self, Scope, Value};
use crate::model::*;
use crate::span::Span;
use crate::suggest::did_you_mean;
use std::collections::{HashMap, HashSet};

/// More blocks than this in one model is refused (a typo like `x 1000000000` must not
/// allocate a billion specs).
pub const MAX_BLOCKS: u64 = 100_000;

pub struct BlockDef<'a> {
    pub name: &'a Ident,
    pub params: &'a [BlockParam],
    pub body: &'a Body,
    pub span: Span,
}

/// Block arguments first, then the file's parameters.
struct BlockScope<'p, 'a> {
    args: HashMap<String, Value>,
    params: &'p mut Params<'a>,
}

impl Scope for BlockScope<'_, '_> {
    fn lookup(&mut self, name: &str, at: Span) -> Result<Value, Error> {
        match self.args.get(name) {
            Some(v) => Ok(*v),
            None => self.params.lookup(name, at).map_err(|e| match e {
                // Inside a block body, the block's own arguments are candidates too.
                Error::UnknownName {
                    at,
                    name,
                    what,
                    suggestion,
                } => {
                    let args = self.args.keys().map(String::as_str);
                    let suggestion =
                        did_you_mean(&name, args.chain(self.params.names())).or(suggestion);
                    Error::UnknownName {
                        at,
                        name,
                        what: if what == "parameter" {
                            "parameter or block argument"
                        } else {
                            what
                        },
                        suggestion,
                    }
                }
                e => e,
            }),
        }
    }
}

/// Instantiates a `blocks:` value. `total` counts blocks across the model.
pub fn instantiate_list(
    e: &Expr,
    defs: &HashMap<&str, BlockDef>,
    used: &mut HashSet<String>,
    total: &mut u64,
    params: &mut Params,
    errors: &mut Vec<Error>,
) -> Vec<BlockSpec> {
    let segments: Vec<&Expr> = match &e.kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![e],
    };
    let mut out = Vec::new();
    for seg in segments {
        let (callee, count) = match &seg.kind {
            ExprKind::Repeat(callee, count) => {
                (&**callee, size(count, "a block count", params, errors))
            }
            _ => (seg, Some(1)),
        };
        if let Some(c) = as_call(callee).filter(|c| defs.contains_key(c.name.name.as_str())) {
            used.insert(c.name.name.clone());
        }
        let Some(count) = count else { continue };
        if total.saturating_add(count) > MAX_BLOCKS {
            // Reported once per model: after that the total stays past the limit.
            if *total <= MAX_BLOCKS {
                errors.push(Error::TooManyBlocks {
                    at: seg.span,
                    count: (*total as u128) + (count as u128),
                    limit: MAX_BLOCKS,
                });
            }
            *total = u64::MAX;
            return out;
        }
        *total += count;
        if let Some(spec) = instantiate(callee, defs, used, params, errors) {
            for _ in 0..count {
                out.push(BlockSpec {
                    span: seg.span,
                    ..spec.clone()
                });
            }
        }
    }
    out
}

/// One block: `llama` or `llama(heads = 8)`.
pub fn instantiate(
    callee: &Expr,
    defs: &HashMap<&str, BlockDef>,
    used: &mut HashSet<String>,
    params: &mut Params,
    errors: &mut Vec<Error>,
) -> Option<BlockSpec> {
    let Some(call) = as_call(callee) else {
        errors.push(eval::wrong(
            callee,
            "a block, like `decoder` or `decoder(width = 64) x 12`",
        ));
        return None;
    };
    let Some(def) = defs.get(call.name.name.as_str()) else {
        errors.push(Error::UnknownName {
            at: call.name.span,
            name: call.name.name.clone(),
            what: "block",
            suggestion: did_you_mean(&call.name.name, defs.keys().copied()),
        });
        return None;
    };
    used.insert(def.name.name.clone());
    // Bind arguments: named, or positional in the definition's order.
    let mut args: HashMap<String, Value> = HashMap::new();
    let mut ok = true;
    for (i, a) in call.args.iter().enumerate() {
        let pname = match &a.name {
            Some(n) => match def.params.iter().find(|p| p.name.name == n.name) {
                Some(p) => p.name.name.clone(),
                None => {
                    errors.push(Error::UnknownKey {
                        at: n.span,
                        key: n.name.clone(),
                        item: format!("block `{}`", def.name.name),
                        expected: Vec::new(),
                        suggestion: did_you_mean(
                            &n.name,
                            def.params.iter().map(|p| p.name.name.as_str()),
                        ),
                    });
                    ok = false;
                    continue;
                }
            },
            None => match def.params.get(i) {
                Some(p) => p.name.name.clone(),
                None => {
                    errors.push(Error::UnknownKey {
                        at: a.value.span,
                        key: format!("argument {}", i + 1),
                        item: format!("block `{}`", def.name.name),
                        expected: Vec::new(),
                        suggestion: None,
                    });
                    ok = false;
                    continue;
                }
            },
        };
        match eval::eval(&a.value, params) {
            Ok(v) => {
                args.insert(pname, v);
            }
            Err(e) => {
                errors.push(e);
                ok = false;
            }
        }
    }
    let mut scope = BlockScope { args, params };
    for p in def.params {
        if scope.args.contains_key(&p.name.name) {
            continue;
        }
        match &p.default {
            Some(d) => match eval::eval(d, &mut scope) {
                Ok(v) => {
                    scope.args.insert(p.name.name.clone(), v);
                }
                Err(e) => {
                    errors.push(e);
                    ok = false;
                }
            },
            None => {
                errors.push(Error::MissingBlockArg {
                    at: call.span,
                    block: def.name.name.clone(),
                    arg: p.name.name.clone(),
                });
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let mut spec = block_body(def, &mut scope, errors)?;
    spec.span = callee.span;
    Some(spec)
}

const BLOCK_KEYS: &[&str] = &[
    "width",
    "norm",
    "placement",
    "attention",
    "mlp",
    "dropout",
    "frozen",
];

fn block_body(def: &BlockDef, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<BlockSpec> {
    let props = Props::new(
        format!("block `{}`", def.name.name),
        def.body.span,
        Some(def.body),
        BLOCK_KEYS,
        errors,
    );
    let before = errors.len();
    let width = props
        .require("width", "width: d", errors)
        .and_then(|e| size(e, "a block width", scope, errors));
    let norm = props
        .require("norm", "norm: rmsnorm(eps = 1e-5)", errors)
        .and_then(|e| norm(e, scope, errors));
    let placement = match props.get("placement") {
        None => Some(Placement::Pre),
        Some(e) => name_choice(
            e,
            "norm placement",
            &["pre", "post", "res_post", "sandwich"],
            errors,
        )
        .map(|c| match c {
            "pre" => Placement::Pre,
            "post" => Placement::Post,
            "res_post" => Placement::ResPost,
            _ => Placement::Sandwich,
        }),
    };
    let mlp = props
        .require("mlp", "mlp: swiglu(hidden = 4 * d)", errors)
        .and_then(|e| mlp(e, scope, errors));
    let dropout = match props.get("dropout") {
        None => Some(0.0),
        // A probability of dropping: 1 would drop every activation.
        Some(e) => float(e, scope, errors).and_then(|p| {
            if (0.0..1.0).contains(&p) {
                Some(p)
            } else {
                errors.push(Error::OutOfRange {
                    at: e.span,
                    what: "`dropout`".into(),
                    value: format!("{p:?}"),
                    allowed: "a probability in [0, 1) (1 would drop every activation)".into(),
                });
                None
            }
        }),
    };
    let frozen = match props.get("frozen") {
        None => Some(false),
        Some(e) => boolean(e, scope, errors),
    };
    let attn_expr = props.require("attention", "attention: attention(heads = 12)", errors);
    let attention = match (attn_expr, width) {
        (Some(e), Some(w)) => attention(e, w, scope, errors),
        _ => None,
    };
    if errors.len() > before {
        return None;
    }
    Some(BlockSpec {
        def: def.name.name.clone(),
        width: width?,
        norm: norm?,
        placement: placement?,
        attention: attention?,
        mlp: mlp?,
        dropout: dropout?,
        frozen: frozen?,
        span: def.span,
        def_span: def.name.span,
    })
}

/// A bare name from a fixed set (`pre`, `gelu`, `add`).
pub fn name_choice(
    e: &Expr,
    what: &'static str,
    choices: &[&'static str],
    errors: &mut Vec<Error>,
) -> Option<&'static str> {
    match e.as_name() {
        Some(n) => choice(&n.name, n.span, what, choices, errors),
        None => {
            errors.push(eval::wrong(
                e,
                &format!("a {what}: one of {}", choices.join(", ")),
            ));
            None
        }
    }
}

pub fn norm(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<Norm> {
    let Some(call) = as_call(e) else {
        errors.push(eval::wrong(e, "a norm: `layernorm(...)` or `rmsnorm(...)`"));
        return None;
    };
    let kind = choice(
        &call.name.name,
        call.name.span,
        "norm",
        &["layernorm", "rmsnorm"],
        errors,
    )?;
    let mut args = Args::new(&call);
    let bias = if kind == "layernorm" {
        match args.get("bias", None) {
            Some(b) => Some(boolean(b, scope, errors)?),
            None => Some(true),
        }
    } else {
        None
    };
    let default_eps = if kind == "layernorm" { 1e-5 } else { 1e-6 };
    let eps = match args.get("eps", None) {
        Some(x) => positive_float(x, "eps", scope, errors)?,
        None => default_eps,
    };
    args.finish(errors);
    Some(Norm {
        kind: bias.map_or(NormKind::Rmsnorm, |bias| NormKind::Layernorm { bias }),
        eps,
    })
}

pub fn positive_float(
    e: &Expr,
    what: &str,
    scope: &mut dyn Scope,
    errors: &mut Vec<Error>,
) -> Option<f64> {
    let f = float(e, scope, errors)?;
    if f <= 0.0 {
        errors.push(Error::NotPositive {
            at: e.span,
            what: what.to_string(),
            value: format!("{f:?}"),
            zero_ok: false,
        });
        return None;
    }
    Some(f)
}

fn mlp(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<Mlp> {
    let Some(call) = as_call(e) else {
        errors.push(eval::wrong(
            e,
            "an MLP: `gelu(hidden = ...)`, `swiglu(...)` or `relu(...)`",
        ));
        return None;
    };
    let kind = match choice(
        &call.name.name,
        call.name.span,
        "MLP kind",
        &["gelu", "gelu_tanh", "swiglu", "relu"],
        errors,
    )? {
        "gelu" => MlpKind::Gelu,
        "gelu_tanh" => MlpKind::GeluTanh,
        "swiglu" => MlpKind::Swiglu,
        _ => MlpKind::Relu,
    };
    let mut args = Args::new(&call);
    let hidden = args
        .require("hidden", Some(0), "gelu(hidden = 4 * d)", errors)
        .and_then(|h| size(h, "an MLP hidden size", scope, errors));
    let bias = match args.get("bias", None) {
        Some(b) => boolean(b, scope, errors),
        None => Some(false),
    };
    args.finish(errors);
    Some(Mlp {
        kind,
        hidden: hidden?,
        bias: bias?,
    })
}

fn attention(
    e: &Expr,
    width: u64,
    scope: &mut dyn Scope,
    errors: &mut Vec<Error>,
) -> Option<Attention> {
    let Some(call) = as_call(e) else {
        errors.push(eval::wrong(e, "`attention(heads = ...)`"));
        return None;
    };
    choice(
        &call.name.name,
        call.name.span,
        "attention",
        &["attention"],
        errors,
    )?;
    let mut args = Args::new(&call);
    let heads = args
        .require("heads", Some(0), "attention(heads = 12)", errors)
        .and_then(|h| size(h, "a head count", scope, errors));
    let kv = args
        .get("kv_heads", None)
        .map(|k| size(k, "a kv-head count", scope, errors));
    let hd = args
        .get("head_dim", None)
        .map(|k| size(k, "a head dimension", scope, errors));
    let positions = match args.get("positions", None) {
        None => Some(Positions::None),
        Some(p) => positions(p, scope, errors),
    };
    let qk_norm = args
        .get("qk_norm", None)
        .map_or(Some(false), |b| boolean(b, scope, errors));
    let bias = args
        .get("bias", None)
        .map_or(Some(false), |b| boolean(b, scope, errors));
    args.finish(errors);
    let heads = heads?;
    let kv_heads = kv.unwrap_or(Some(heads))?;
    if !heads.is_multiple_of(kv_heads) {
        errors.push(Error::KvHeadsDoNotDivide {
            at: call.span,
            kv_heads,
            heads,
        });
        return None;
    }
    let head_dim = match hd {
        Some(hd) => {
            let hd = hd?;
            if heads.checked_mul(hd) != Some(width) {
                errors.push(Error::HeadDimMismatch {
                    at: call.span,
                    heads,
                    head_dim: hd,
                    width,
                });
                return None;
            }
            hd
        }
        None => {
            if !width.is_multiple_of(heads) {
                errors.push(Error::HeadsDoNotDivide {
                    at: call.span,
                    heads,
                    width,
                });
                return None;
            }
            width / heads
        }
    };
    Some(Attention {
        heads,
        kv_heads,
        head_dim,
        positions: positions?,
        qk_norm: qk_norm?,
        bias: bias?,
    })
}

fn positions(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<Positions> {
    let call = as_call(e)?;
    match choice(
        &call.name.name,
        call.name.span,
        "position encoding",
        &["rope", "none"],
        errors,
    )? {
        "rope" => {
            let mut args = Args::new(&call);
            let theta = match args.get("theta", Some(0)) {
                Some(t) => positive_float(t, "rope theta", scope, errors)?,
                None => 10000.0,
            };
            args.finish(errors);
            Some(Positions::Rope { theta })
        }
        _ => Some(Positions::None),
    }
}
