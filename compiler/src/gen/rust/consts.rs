//! What training needs besides the layers, as items of the generated model.rs: the
//! model's name and IR, its heads, draws, loops and stems, and the diffusion lookup.

use super::{b, rs_str, Emitter};
use crate::graph::{NodeKind, Owner};
use crate::model::{ObjectiveKind, Region, Steps};
use std::fmt::Write;

impl Emitter<'_> {
    /// What training needs besides the layers: the model's name and IR, each head's
    /// objective, the training draws, the loops and the stems, all in the runtime's order.
    pub(super) fn training_consts(&self, out: &mut String) {
        let g = self.g;
        let _ = writeln!(out, "/// The model's name, and its IR as `archc build` writes it (checkpoints carry its SHA-256).\npub const MODEL_NAME: &str = {};\npub const IR_YAML: &str = include_str!(\"../ir.yaml\");\n", rs_str(&g.name));
        let mut heads = Vec::new();
        for &n in &self.plan.order {
            let (NodeKind::Objective { target, objective }, Owner::Head(h)) =
                (&self.node(n).kind, &self.node(n).owner)
            else {
                continue;
            };
            let o = match &objective.kind {
                ObjectiveKind::NextToken | ObjectiveKind::VqCe => {
                    let t = target.as_deref().unwrap_or_default();
                    format!(
                        "Objective::NextId {{ z_loss: {:?}, skip: {}, shift: {}, mntp: {} }}",
                        objective.z_loss,
                        g.prefix_skip(t),
                        g.target_shift(t),
                        b(g.mntp_causal(t).is_some())
                    )
                }
                ObjectiveKind::MaskedRegression { shift, loss } => format!(
                    "Objective::MaskedRegression {{ shift: {shift}, loss: RegressionLoss::{} }}",
                    match loss {
                        crate::model::RegressionLoss::Mse => "Mse",
                        crate::model::RegressionLoss::Cosine => "Cosine",
                    }
                ),
                ObjectiveKind::Diffusion { .. } => "Objective::Diffusion".into(),
                ObjectiveKind::Classify => "Objective::Classify".into(),
            };
            heads.push(format!(
                "HeadSpec {{ head: {}.into(), name: {}.into(), target: {}.into(), objective: {o}, weight: {:?} }}",
                rs_str(h),
                rs_str(objective.kind.name()),
                rs_str(target.as_deref().unwrap_or_default()),
                objective.weight
            ));
        }
        let _ = writeln!(out, "/// The trained heads, in the checked graph's order (docs/semantics.md, \"Objectives\").\npub fn heads() -> Vec<HeadSpec> {{\n    vec![{}]\n}}\n", heads.join(", "));
        let masks: Vec<String> = g
            .masks
            .iter()
            .filter_map(|m| match m.region {
                Region::MaskTokens { min_rate, max_rate } => Some(format!(
                    "MaskTokens {{ modality: {}.into(), min_rate: {min_rate:?}, max_rate: {max_rate:?}, causal: {} }}",
                    rs_str(&m.modality),
                    match g.mntp_causal(&m.modality) {
                        Some(c) => format!("Some({c:?})"),
                        None => "None".into(),
                    }
                )),
                _ => None,
            })
            .collect();
        let loops: Vec<String> = self
            .plan
            .loops
            .iter()
            .map(|l| rs_str(&self.node(l.node).path))
            .collect();
        let sampled: Vec<String> = self
            .plan
            .loops
            .iter()
            .filter_map(|l| match l.steps {
                Steps::Sampled { mean, .. } => Some(format!(
                    "({}.into(), {mean})",
                    rs_str(&self.node(l.node).path)
                )),
                _ => None,
            })
            .collect();
        let _ = writeln!(out, "/// What a training step draws: each `mask_tokens` modality's rate and masked rows, each
/// `sampled` loop's passes.
pub fn draws() -> DrawSpec {{
    DrawSpec {{ mask_tokens: vec![{}], sampled: vec![{}] }}
}}
", masks.join(", "), sampled.join(", "));
        let _ = writeln!(
            out,
            "/// Every loop.\npub const LOOPS: &[&str] = &[{}];\n",
            loops.join(", ")
        );
        let stems: Vec<String> = g
            .stems_in_order()
            .into_iter()
            .map(|(modality, stem)| {
                let data = match stem {
                    crate::model::StemKind::Tokens { vocab, max_len } => {
                        format!("StemData::Tokens {{ vocab: {vocab}, max_len: {max_len} }}")
                    }
                    crate::model::StemKind::Codes { codebook, rows } => {
                        format!("StemData::Codes {{ codebook: {codebook}, rows: {rows} }}")
                    }
                    crate::model::StemKind::Features { dim, rows, .. } => {
                        format!("StemData::Features {{ dim: {dim}, rows: {rows} }}")
                    }
                };
                format!(
                    "StemInfo {{ name: {}.into(), data: {data} }}",
                    rs_str(modality)
                )
            })
            .collect();
        let _ = writeln!(out, "/// The stems the data feeds, in the trunk's order.\npub fn stems() -> Vec<StemInfo> {{\n    vec![{}]\n}}\n", stems.join(", "));
    }

    /// `Model::diffusion(head)`: a diffusion head's MLP.
    pub(super) fn diffusion_lookup(&self, out: &mut String) {
        let arms: Vec<String> = self
            .plan
            .order
            .iter()
            .filter_map(|&n| match (&self.node(n).kind, &self.node(n).owner) {
                (NodeKind::Objective { objective, .. }, Owner::Head(h))
                    if matches!(objective.kind, ObjectiveKind::Diffusion { .. }) =>
                {
                    Some(format!(
                        "            {} => Some(&{}),",
                        rs_str(h),
                        self.place(&self.node(n).path)
                    ))
                }
                _ => None,
            })
            .collect();
        out.push_str("    /// A diffusion head's MLP (MAR), by head name.\n");
        if arms.is_empty() {
            out.push_str("    pub fn diffusion(&self, _head: &str) -> Option<&DiffusionMlp<B>> {\n        None\n    }\n\n");
        } else {
            let _ = writeln!(out, "    pub fn diffusion(&self, head: &str) -> Option<&DiffusionMlp<B>> {{\n        match head {{\n{}\n            _ => None,\n        }}\n    }}\n", arms.join("\n"));
        }
    }
}
