//! Mask regions against objectives: a bidirectional span, or a scale of a `scales` span,
//! must not show a position the token it is trained to predict; a `next_scale` stem needs
//! the `scales` mask that gives its scales.

use crate::diag::Error;
use crate::model::{Model, ObjectiveKind, Region, StemKind};

pub fn check(model: &Model, errors: &mut Vec<Error>) {
    one_of_each(model, errors);
    next_scale_stems(model, errors);
    mntp_needs_masks(model, errors);
    for m in model.masks.iter().filter(|m| match &m.region {
        Region::Bidirectional => true,
        // A scale of side s > 1 holds s² positions that see each other.
        Region::Scales { sides } => sides.iter().any(|&s| s > 1),
        // Inside the prefix positions see ahead; next-position objectives skip those
        // predictions (docs/semantics.md), a same-position one over a `next_scale` stem
        // cannot: its later inputs hold the codes it predicts.
        Region::Prefix { len } => *len > 1,
        // A masked sequence sees its whole span; only masked rows are scored there.
        Region::Mntp { .. } => true,
        _ => false,
    }) {
        let masked = model
            .masks
            .iter()
            // `rate = 0.0..0.0` masks nothing.
            .any(|o| {
                o.modality == m.modality
                    && matches!(o.region, Region::MaskTokens { max_rate, .. } if max_rate > 0.0)
            });
        let next_scale = is_next_scale(model, &m.modality);
        for h in &model.heads {
            let (Some(obj), Some((target, _))) = (&h.objective, &h.target) else {
                continue;
            };
            if target != &m.modality {
                continue;
            }
            let leaks = if next_scale {
                // Position k of scale s was fed scales < s only, and predicts code k:
                // `scales` (and causal) attention never shows it a code of scale s or later.
                !matches!(m.region, Region::Scales { .. })
            } else if matches!(m.region, Region::Prefix { .. } | Region::Mntp { .. }) {
                // Next-position objectives skip the prefix's predictions, and `mntp` scores
                // a masked sequence's masked rows only; masked regression and diffusion
                // score every row when nothing is masked.
                matches!(
                    obj.kind,
                    ObjectiveKind::MaskedRegression { .. } | ObjectiveKind::Diffusion { .. }
                ) && !masked
            } else {
                // Next-position objectives always leak; masked regression and diffusion
                // (which then predicts row k + 1 from position k) leak when nothing is masked.
                obj.kind.is_next_position()
                    || (matches!(
                        obj.kind,
                        ObjectiveKind::MaskedRegression { .. } | ObjectiveKind::Diffusion { .. }
                    ) && !masked)
            };
            if leaks {
                errors.push(Error::FutureTokenLeak {
                    mask: m.span,
                    region: m.region.name(),
                    modality: m.modality.clone(),
                    head: h.span,
                    head_name: h.name.clone(),
                    objective: obj.span,
                    objective_name: obj.kind.name(),
                    next_scale,
                });
            }
        }
    }
}

fn is_next_scale(model: &Model, modality: &str) -> bool {
    model
        .stems
        .iter()
        .any(|s| s.name == modality && s.embed.as_ref().is_some_and(|(e, _)| e.next_scale))
}

/// A `next_scale` stem's scales come from its modality's `scales(...)` mask: its first
/// scales must cover the stem's rows exactly.
fn next_scale_stems(model: &Model, errors: &mut Vec<Error>) {
    for stem in &model.stems {
        let Some((e, at)) = &stem.embed else { continue };
        let StemKind::Codes { rows, .. } = stem.kind else {
            continue;
        };
        if !e.next_scale {
            continue;
        }
        let scales = model.masks.iter().find_map(|m| match &m.region {
            Region::Scales { sides } if m.modality == stem.name => Some((sides, m.span)),
            _ => None,
        });
        match scales {
            Some((sides, _)) if crate::graph::scales_covering(sides, rows).is_some() => {}
            _ => errors.push(Error::NextScaleWithoutScales {
                at: *at,
                stem: stem.name.clone(),
                rows,
                scales: scales.map(|(sides, span)| (sides.clone(), span)),
            }),
        }
    }
}

/// `mntp` scores masked rows: without `mask_tokens` (or with a rate of 0) there are none.
fn mntp_needs_masks(model: &Model, errors: &mut Vec<Error>) {
    for m in &model.masks {
        if !matches!(m.region, Region::Mntp { .. }) {
            continue;
        }
        let masked = model.masks.iter().any(|o| {
            o.modality == m.modality
                && matches!(o.region, Region::MaskTokens { max_rate, .. } if max_rate > 0.0)
        });
        if !masked {
            errors.push(Error::BadScales {
                at: m.span,
                reason: format!(
                    "`mntp` over `{}` predicts its masked rows, and `{}` has no `mask_tokens(rate = LO..HI)` with a rate above 0",
                    m.modality, m.modality
                ),
            });
        }
    }
}

/// A modality takes at most one `prefix`, `scales`, `mask_tokens` and `mntp` region: two
/// would be read differently by different passes (and together open more than either).
fn one_of_each(model: &Model, errors: &mut Vec<Error>) {
    for (i, m) in model.masks.iter().enumerate() {
        if matches!(m.region, Region::Causal | Region::Bidirectional) {
            continue;
        }
        let earlier = model.masks[..i]
            .iter()
            .any(|o| o.modality == m.modality && o.region.name() == m.region.name());
        if earlier {
            errors.push(Error::BadScales {
                at: m.span,
                reason: format!(
                    "`{}` already has a `{}` region; a modality takes one",
                    m.modality,
                    m.region.name()
                ),
            });
        }
    }
}
