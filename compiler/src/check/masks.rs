//! Mask regions against objectives: a bidirectional span, or a scale of a `scales` span,
//! must not show a position the token it is trained to predict.

use crate::diag::Error;
use crate::model::{Model, ObjectiveKind, Region};

pub fn check(model: &Model, errors: &mut Vec<Error>) {
    for m in model.masks.iter().filter(|m| match &m.region {
        Region::Bidirectional => true,
        // A scale of side s > 1 holds s² positions that see each other.
        Region::Scales { sides } => sides.iter().any(|&s| s > 1),
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
        for h in &model.heads {
            let (Some(obj), Some((target, _))) = (&h.objective, &h.target) else {
                continue;
            };
            if target != &m.modality {
                continue;
            }
            // Next-position objectives always leak; masked regression and diffusion (which
            // then predicts row k + 1 from position k) leak when nothing is masked.
            let leaks = obj.kind.is_next_position()
                || (matches!(
                    obj.kind,
                    ObjectiveKind::MaskedRegression { .. } | ObjectiveKind::Diffusion { .. }
                ) && !masked);
            if leaks {
                errors.push(Error::FutureTokenLeak {
                    mask: m.span,
                    region: m.region.name(),
                    modality: m.modality.clone(),
                    head: h.span,
                    head_name: h.name.clone(),
                    objective: obj.span,
                    objective_name: obj.kind.name(),
                });
            }
        }
    }
}
