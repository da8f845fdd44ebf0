//! Property values shared by several items: n-layer MLPs (adapters, MLP layers), head
//! projections and objectives.

use super::blocks::name_choice;
use super::items::call_of;
use super::props::{boolean, choice, float, size, Args};
use super::Params;
use crate::ast::{Expr, ExprKind};
use crate::diag::Error;
use crate::eval;
use crate::model::*;

pub(super) fn mlp_stack(e: &Expr, p: &mut Params, errors: &mut Vec<Error>) -> Option<MlpStack> {
    let call = call_of(e, "mlp", "`mlp(layers = 2, hidden = d, out = d)`", errors)?;
    let mut a = Args::new(&call);
    let layers = a
        .get("layers", None)
        .map_or(Some(2), |l| size(l, "a layer count", p, errors));
    let out = a
        .require("out", None, "mlp(layers = 2, hidden = d, out = d)", errors)
        .and_then(|o| size(o, "an output width", p, errors));
    let hidden = a
        .get("hidden", None)
        .map(|h| size(h, "a hidden width", p, errors));
    let act = a.get("act", None).map_or(Some("gelu"), |x| {
        name_choice(x, "activation", &["gelu", "relu", "silu", "tanh"], errors)
    });
    let bias = a
        .get("bias", None)
        .map_or(Some(true), |b| boolean(b, p, errors));
    let frozen = a
        .get("frozen", None)
        .map_or(Some(false), |b| boolean(b, p, errors));
    a.finish(errors);
    let out = out?;
    let act = match act? {
        "gelu" => Act::Gelu,
        "relu" => Act::Relu,
        "silu" => Act::Silu,
        _ => Act::Tanh,
    };
    Some(MlpStack {
        layers: layers?,
        hidden: hidden.unwrap_or(Some(out))?,
        out,
        act,
        bias: bias?,
        frozen: frozen?,
    })
}

pub(super) fn projection(e: &Expr, p: &mut Params, errors: &mut Vec<Error>) -> Option<Projection> {
    let call = call_of(
        e,
        "",
        "`linear`, `tied(text.embed)`, `mlp(hidden = 2048)` or `none`",
        errors,
    )?;
    let kind = choice(
        &call.name.name,
        call.name.span,
        "projection",
        &["linear", "tied", "mlp", "none"],
        errors,
    )?;
    let mut a = Args::new(&call);
    let proj = match kind {
        "linear" => Projection::Linear {
            bias: a
                .get("bias", None)
                .map_or(Some(false), |b| boolean(b, p, errors))?,
        },
        "tied" => {
            let target = a.require("to", Some(0), "tied(text.embed)", errors)?;
            match &target.kind {
                ExprKind::Path(path)
                    if path.segments.len() == 2 && path.segments[1].name == "embed" =>
                {
                    Projection::Tied {
                        stem: path.segments[0].name.clone(),
                    }
                }
                _ => {
                    errors.push(eval::wrong(target, "a stem's embedding, like `text.embed`"));
                    return None;
                }
            }
        }
        "mlp" => {
            let hidden = a
                .require("hidden", Some(0), "mlp(hidden = 2048)", errors)
                .and_then(|h| size(h, "a hidden width", p, errors));
            let act = a.get("act", None).map_or(Some("gelu"), |x| {
                name_choice(x, "activation", &["gelu", "relu", "silu", "tanh"], errors)
            });
            let act = match act? {
                "gelu" => Act::Gelu,
                "relu" => Act::Relu,
                "silu" => Act::Silu,
                _ => Act::Tanh,
            };
            Projection::Mlp {
                hidden: hidden?,
                act,
            }
        }
        _ => Projection::None,
    };
    a.finish(errors);
    Some(proj)
}

pub(super) fn objective(e: &Expr, p: &mut Params, errors: &mut Vec<Error>) -> Option<Objective> {
    let call = call_of(
        e,
        "",
        "`next_token`, `vq_ce`, `masked_regression(shift = 1)`, `diffusion(...)` or `classify`",
        errors,
    )?;
    let kind = choice(
        &call.name.name,
        call.name.span,
        "objective",
        &[
            "next_token",
            "vq_ce",
            "masked_regression",
            "diffusion",
            "classify",
        ],
        errors,
    )?;
    let mut a = Args::new(&call);
    let okind = match kind {
        "next_token" => ObjectiveKind::NextToken,
        "vq_ce" => ObjectiveKind::VqCe,
        "masked_regression" => {
            let shift = match a.get("shift", None) {
                Some(s) => super::props::non_negative_int(s, "a shift", p, errors)?,
                None => 1,
            };
            let loss = a.get("loss", None).map_or(Some("mse"), |l| {
                name_choice(l, "regression loss", &["mse", "cosine"], errors)
            })?;
            ObjectiveKind::MaskedRegression {
                shift,
                loss: if loss == "mse" {
                    RegressionLoss::Mse
                } else {
                    RegressionLoss::Cosine
                },
            }
        }
        "diffusion" => {
            let layers = a
                .get("layers", None)
                .map_or(Some(3), |x| size(x, "a layer count", p, errors));
            let width = a
                .get("width", None)
                .map_or(Some(1024), |x| size(x, "a width", p, errors));
            let steps = a
                .get("steps", None)
                .map_or(Some(1000), |x| size(x, "a step count", p, errors));
            ObjectiveKind::Diffusion {
                layers: layers?,
                width: width?,
                steps: steps?,
            }
        }
        _ => ObjectiveKind::Classify,
    };
    let weight = match a.get("weight", None) {
        Some(w) => non_negative(w, "a loss weight", p, errors)?,
        None => 1.0,
    };
    let z_loss = match a.get("z_loss", None) {
        Some(z) => non_negative(z, "a z-loss weight", p, errors)?,
        None => 0.0,
    };
    a.finish(errors);
    Some(Objective {
        kind: okind,
        weight,
        z_loss,
        span: call.span,
    })
}

pub(super) fn non_negative(
    e: &Expr,
    what: &str,
    p: &mut Params,
    errors: &mut Vec<Error>,
) -> Option<f64> {
    let f = float(e, p, errors)?;
    if f < 0.0 {
        errors.push(Error::NotPositive {
            at: e.span,
            what: what.to_string(),
            value: format!("{f:?}"),
            zero_ok: true,
        });
        return None;
    }
    Some(f)
}
