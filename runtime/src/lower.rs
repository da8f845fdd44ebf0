//! The checked graph's layer specs, lowered to `archc-nn`'s plain ones (the only place the
//! runtime turns the compiler's types into the layers' own).

use archc::graph::{ArchGraph, LoopPlan, NodeKind, Owner};
use archc::model::{self as m, MlpStack, ObjectiveKind, Steps};
use archc_nn::batch::Region;
use archc_nn::draws::{DrawSpec, MaskTokens};
use archc_nn::objectives::{HeadSpec, Objective, RegressionLoss};
use archc_nn::spec::{
    Act, AttentionSpec, BlockSpec, MlpKind, MlpSpec, NormKind, NormSpec, Placement, StackSpec,
};
use petgraph::stable_graph::NodeIndex;

pub fn norm(n: &m::Norm) -> NormSpec {
    NormSpec {
        kind: match n.kind {
            m::NormKind::Rmsnorm => NormKind::Rms,
            m::NormKind::Layernorm { bias } => NormKind::Layer { bias },
        },
        eps: n.eps,
    }
}

pub fn act(a: m::Act) -> Act {
    match a {
        m::Act::Gelu => Act::Gelu,
        m::Act::Relu => Act::Relu,
        m::Act::Silu => Act::Silu,
        m::Act::Tanh => Act::Tanh,
    }
}

pub fn block(b: &m::BlockSpec) -> BlockSpec {
    let a = &b.attention;
    BlockSpec {
        width: b.width as usize,
        norm: norm(&b.norm),
        placement: match b.placement {
            m::Placement::Pre => Placement::Pre,
            m::Placement::Post => Placement::Post,
            m::Placement::ResPost => Placement::ResPost,
            m::Placement::Sandwich => Placement::Sandwich,
        },
        attention: AttentionSpec {
            heads: a.heads as usize,
            kv_heads: a.kv_heads as usize,
            head_dim: a.head_dim as usize,
            bias: a.bias,
            qk_norm: a.qk_norm.then(|| norm(&b.norm)),
            rope_theta: match a.positions {
                m::Positions::Rope { theta } => Some(theta),
                m::Positions::None => None,
            },
        },
        mlp: MlpSpec {
            kind: match b.mlp.kind {
                m::MlpKind::Gelu => MlpKind::Gelu,
                m::MlpKind::GeluTanh => MlpKind::GeluTanh,
                m::MlpKind::Relu => MlpKind::Relu,
                m::MlpKind::Swiglu => MlpKind::Swiglu,
            },
            hidden: b.mlp.hidden as usize,
            bias: b.mlp.bias,
        },
    }
}

/// An adapter's or MLP node's stack, reading `input` features.
pub fn stack(input: u64, s: &MlpStack) -> StackSpec {
    StackSpec {
        input: input as usize,
        hidden: s.hidden as usize,
        out: s.out as usize,
        layers: s.layers as usize,
        bias: s.bias,
        act: act(s.act),
    }
}

/// The attention regions of the graph's masks (`mask_tokens` is a training draw, not a
/// region).
pub fn regions(g: &ArchGraph) -> Vec<(String, Region)> {
    g.masks
        .iter()
        .filter_map(|mask| {
            let r = match &mask.region {
                m::Region::Bidirectional => Region::Bidirectional,
                m::Region::Prefix { len } => Region::Prefix(*len),
                m::Region::Scales { sides } => Region::Scales(sides.clone()),
                m::Region::Mntp { .. } => Region::Mntp,
                m::Region::Causal | m::Region::MaskTokens { .. } => return None,
            };
            Some((mask.modality.clone(), r))
        })
        .collect()
}

/// The trained heads in `order` (the plan's), each with its objective node.
pub fn heads(g: &ArchGraph, order: &[NodeIndex]) -> Vec<(HeadSpec, NodeIndex)> {
    order
        .iter()
        .filter_map(|&n| {
            let (NodeKind::Objective { target, objective }, Owner::Head(h)) =
                (&g.graph[n].kind, &g.graph[n].owner)
            else {
                return None;
            };
            let t = target.as_deref().unwrap_or_default();
            let o = match &objective.kind {
                ObjectiveKind::NextToken | ObjectiveKind::VqCe => Objective::NextId {
                    z_loss: objective.z_loss,
                    skip: g.prefix_skip(t) as usize,
                    shift: g.target_shift(t) as usize,
                    mntp: g.mntp_causal(t).is_some(),
                },
                ObjectiveKind::MaskedRegression { shift, loss } => Objective::MaskedRegression {
                    shift: *shift as usize,
                    loss: match loss {
                        m::RegressionLoss::Mse => RegressionLoss::Mse,
                        m::RegressionLoss::Cosine => RegressionLoss::Cosine,
                    },
                },
                ObjectiveKind::Diffusion { .. } => Objective::Diffusion,
                ObjectiveKind::Classify => Objective::Classify,
            };
            let spec = HeadSpec {
                head: h.clone(),
                name: objective.kind.name().to_string(),
                target: t.to_string(),
                objective: o,
                weight: objective.weight,
            };
            Some((spec, n))
        })
        .collect()
}

/// What a training step draws: each `mask_tokens` modality (in the graph's order) and
/// each `sampled` loop (in the plan's).
pub fn draws(g: &ArchGraph, loops: &[LoopPlan]) -> DrawSpec {
    DrawSpec {
        mask_tokens: g
            .masks
            .iter()
            .filter_map(|mask| match mask.region {
                m::Region::MaskTokens { min_rate, max_rate } => Some(MaskTokens {
                    modality: mask.modality.clone(),
                    min_rate,
                    max_rate,
                    causal: g.mntp_causal(&mask.modality),
                }),
                _ => None,
            })
            .collect(),
        sampled: loops
            .iter()
            .filter_map(|l| match l.steps {
                Steps::Sampled { mean, .. } => Some((g.graph[l.node].path.clone(), mean)),
                _ => None,
            })
            .collect(),
    }
}
