//! Heads, layers and loops: what reads the trunk's ports.

use super::*;

impl<'a, 'p> Ctx<'a, 'p> {
    pub(super) fn head(
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

    pub(super) fn layer(
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

    pub(super) fn looped(
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
            let n = crate::resolve::props::int(e, p, errors)?;
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
            Some(e) => crate::resolve::props::non_negative_int(
                e,
                "a loop shift",
                &mut *self.params,
                errors,
            )?,
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
