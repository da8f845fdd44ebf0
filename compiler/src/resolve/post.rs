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
            (Some((t, at)), Some(needs)) => match stems.iter().find(|s| &s.0 == t) {
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
        if !stems.iter().any(|s| s.0 == m.modality) {
            errors.push(Error::MaskUnknownModality {
                at: m.modality_span,
                modality: m.modality.clone(),
                suggestion: did_you_mean(&m.modality, stems.iter().map(|s| s.0.as_str())),
            });
        }
    }
}
