//! Mask regions: `mask MODALITY: REGION`, each region's arguments checked.

use super::items::Ctx;
use super::props::{choice, float, size, Args};
use crate::ast::{Call, ExprKind};
use crate::diag::Error;
use crate::model::Region;

impl Ctx<'_, '_> {
    pub(super) fn region(&mut self, kind: &Call, errors: &mut Vec<Error>) -> Option<Region> {
        let p = &mut *self.params;
        let name = choice(
            &kind.name.name,
            kind.name.span,
            "mask region",
            &[
                "causal",
                "bidirectional",
                "prefix",
                "mask_tokens",
                "scales",
                "mntp",
            ],
            errors,
        )?;
        let mut a = Args::new(kind);
        let region = match name {
            "causal" => Region::Causal,
            "bidirectional" => Region::Bidirectional,
            "prefix" => Region::Prefix {
                len: a
                    .require("len", Some(0), "prefix(len = 64)", errors)
                    .and_then(|e| size(e, "a prefix length", p, errors))?,
            },
            "mntp" => {
                let e = a.require("causal", Some(0), "mntp(causal = 0.0625)", errors)?;
                let causal = float(e, p, errors)?;
                if !(0.0..=1.0).contains(&causal) {
                    errors.push(Error::RateOutOfRange {
                        at: e.span,
                        value: causal,
                    });
                    return None;
                }
                Region::Mntp { causal }
            }
            "mask_tokens" => {
                let e = a.require("rate", Some(0), "mask_tokens(rate = 0.0..1.0)", errors)?;
                let (lo, hi) = match &e.kind {
                    ExprKind::Range(lo, hi) => (float(lo, p, errors)?, float(hi, p, errors)?),
                    _ => {
                        let r = float(e, p, errors)?;
                        (r, r)
                    }
                };
                for (v, at) in [(lo, e.span), (hi, e.span)] {
                    if !(0.0..=1.0).contains(&v) {
                        errors.push(Error::RateOutOfRange { at, value: v });
                        return None;
                    }
                }
                if lo > hi {
                    errors.push(Error::BadScales {
                        at: e.span,
                        reason: format!("the range {lo:?}..{hi:?} is reversed"),
                    });
                    return None;
                }
                Region::MaskTokens {
                    min_rate: lo,
                    max_rate: hi,
                }
            }
            _ => {
                let mut sides = Vec::new();
                for arg in &kind.args {
                    if let Some(n) = &arg.name {
                        errors.push(Error::UnknownKey {
                            at: n.span,
                            key: n.name.clone(),
                            item: "`scales(...)`".into(),
                            expected: Vec::new(),
                            suggestion: None,
                        });
                        return None;
                    }
                    sides.push((size(&arg.value, "a scale", p, errors)?, arg.value.span));
                }
                if sides.is_empty() {
                    errors.push(Error::BadScales {
                        at: kind.span,
                        reason: "no scales are given".into(),
                    });
                    return None;
                }
                if let Some(w) = sides.windows(2).find(|w| w[1].0 <= w[0].0) {
                    errors.push(Error::BadScales {
                        at: w[1].1,
                        reason: format!(
                            "scales must increase strictly, but {} follows {}",
                            w[1].0, w[0].0
                        ),
                    });
                    return None;
                }
                return Some(Region::Scales {
                    sides: sides.into_iter().map(|s| s.0).collect(),
                });
            }
        };
        a.finish(errors);
        Some(region)
    }
}
