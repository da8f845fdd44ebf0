//! Checks that need every item resolved: unused block definitions, head targets and
//! objectives, mask modalities.

use super::items::Ctx;
use crate::diag::Error;
use crate::model::*;
use crate::suggest::did_you_mean;

/// Checks that need every item: unused block definitions, head targets, mask modalities.
pub fn post_checks(model: &mut Model, ctx: &Ctx, errors: &mut Vec<Error>) {
    for def in ctx.defs.values() {
        if !ctx.used_defs.contains(&def.name.name) {
            errors.push(Error::UnusedBlock {
                at: def.name.span,
                name: def.name.name.clone(),
            });
        }
    }
    let stems: Vec<(String, &'static str)> = model
        .stems
        .iter()
        .map(|s| (s.name.clone(), s.kind.name()))
        .collect();
    // By name, the first of each (a stem declared twice is reported elsewhere).
    let mut by_name: std::collections::HashMap<&str, usize> = Default::default();
    for (i, s) in stems.iter().enumerate() {
        by_name.entry(s.0.as_str()).or_insert(i);
    }
    for head in &mut model.heads {
        let needs = match head.kind {
            HeadKind::Text => Some("tokens"),
            HeadKind::Codes => Some("codes"),
            HeadKind::Features | HeadKind::Diffusion => Some("features"),
            HeadKind::Classifier { .. } => None,
        };
        match (&head.target, needs) {
            // A classifier predicts labels, not a modality.
            (_, None) => {}
            (Some((t, at)), Some(needs)) => match by_name.get(t.as_str()).map(|&i| &stems[i]) {
                Some((_, kind)) if *kind == needs => {}
                Some((_, kind)) => errors.push(Error::TargetWithoutStem {
                    at: *at,
                    target: t.clone(),
                    needs,
                    found_kind: Some(kind),
                    candidates: Vec::new(),
                    suggestion: None,
                }),
                // A stem that failed to resolve was reported already.
                None if ctx.stem_kinds.iter().any(|(n, _)| n == t) => {}
                None => errors.push(Error::TargetWithoutStem {
                    at: *at,
                    target: t.clone(),
                    needs,
                    found_kind: None,
                    candidates: Vec::new(),
                    suggestion: did_you_mean(t, stems.iter().map(|s| s.0.as_str())),
                }),
            },
            (None, _) if ctx.stem_kinds.len() != stems.len() => {}
            (None, Some(needs)) => {
                let matching: Vec<String> = stems
                    .iter()
                    .filter(|s| s.1 == needs)
                    .map(|s| s.0.clone())
                    .collect();
                match matching.as_slice() {
                    [one] => head.target = Some((one.clone(), head.span)),
                    _ => errors.push(Error::TargetWithoutStem {
                        at: head.span,
                        target: String::new(),
                        needs,
                        found_kind: None,
                        candidates: matching,
                        suggestion: None,
                    }),
                }
            }
        }
        // Objective and head kind must agree.
        if let Some(obj) = &head.objective {
            let expected: &[&'static str] = match head.kind {
                HeadKind::Text => &["next_token"],
                HeadKind::Codes => &["vq_ce"],
                HeadKind::Features => &["masked_regression"],
                HeadKind::Diffusion => &["diffusion"],
                HeadKind::Classifier { .. } => &["classify"],
            };
            if !expected.contains(&obj.kind.name()) {
                errors.push(Error::ObjectiveMismatch {
                    at: obj.span,
                    objective: obj.kind.name().into(),
                    head_kind: head.kind.name().into(),
                    expected: expected.to_vec(),
                });
            }
        } else {
            errors.push(Error::NoObjective {
                at: head.span,
                head: head.name.clone(),
                kind: head.kind.name().into(),
            });
        }
    }
    for m in &model.masks {
        if !by_name.contains_key(m.modality.as_str()) {
            errors.push(Error::MaskUnknownModality {
                at: m.modality_span,
                modality: m.modality.clone(),
                suggestion: did_you_mean(&m.modality, stems.iter().map(|s| s.0.as_str())),
            });
        }
    }
    lengths(model, errors);
}

/// The most rows a stem's sequence holds: a text's `max_len`, an image's `rows`.
fn stem_rows(model: &Model, name: &str) -> Option<u64> {
    model
        .stems
        .iter()
        .find(|s| s.name == name)
        .map(|s| match s.kind {
            StemKind::Tokens { max_len, .. } => max_len,
            StemKind::Codes { rows, .. } | StemKind::Features { rows, .. } => rows,
        })
}

/// Lengths that must fit in the sequence they count positions of: a prefix shorter than
/// its modality (else nothing is left to predict after it), a regression shift below its
/// target's rows (else no row is scored and the head drops out of the loss).
fn lengths(model: &Model, errors: &mut Vec<Error>) {
    for m in &model.masks {
        let (Region::Prefix { len }, Some(rows)) = (&m.region, stem_rows(model, &m.modality))
        else {
            continue;
        };
        if *len >= rows {
            errors.push(Error::BadScales {
                at: m.span,
                reason: format!(
                    "prefix({len}) covers all {rows} positions `{}` can hold, and nothing is left to predict after it; a modality seen both ways throughout is `bidirectional`",
                    m.modality
                ),
            });
        }
    }
    for h in &model.heads {
        let (Some(o), Some((target, _))) = (&h.objective, &h.target) else {
            continue;
        };
        let (ObjectiveKind::MaskedRegression { shift, .. }, Some(rows)) =
            (&o.kind, stem_rows(model, target))
        else {
            continue;
        };
        if *shift >= rows {
            errors.push(Error::OutOfRange {
                at: o.span,
                what: format!("the shift of head `{}`", h.name),
                value: shift.to_string(),
                allowed: format!(
                    "below {rows}, the rows of `{target}` (row k + shift is regressed from position k, so a shift of {rows} or more leaves no row to score)"
                ),
            });
        }
    }
}

/// A model reads data through at least one stem and predicts through at least one head.
/// Points at the trunk's first line when only heads are missing, else at the first item's.
pub fn not_empty(ast: &crate::ast::Ast) -> Option<Error> {
    use crate::ast::ItemKind;
    let no_stem = !ast
        .items
        .iter()
        .any(|i| matches!(i.kind, ItemKind::Stem { .. }));
    let no_head = !ast
        .items
        .iter()
        .any(|i| matches!(i.kind, ItemKind::Head { .. }));
    if !(no_stem || no_head) {
        return None;
    }
    let trunk = ast
        .items
        .iter()
        .find(|i| matches!(i.kind, ItemKind::Trunk { .. }))
        .filter(|_| !no_stem);
    // The item's keyword: the item itself may run for pages.
    let at = trunk
        .or(ast.items.first())
        .map_or(crate::span::Span::point(0), |i| {
            crate::span::Span::new(
                i.span.lo,
                (i.span.lo + i.kind.keyword().len()).min(i.span.hi),
            )
        });
    Some(Error::EmptyModel {
        at,
        no_stem,
        no_head,
        at_trunk: trunk.is_some(),
    })
}
