//! FLOPs per token and effective depth. Conventions (docs/costs.md):
//! - a matrix multiply costs 2 FLOPs per weight per token (a multiply and an add), biases,
//!   norms and activations are not counted (Kaplan et al. 2020, "Scaling Laws for Neural
//!   Language Models", Table 1);
//! - attention over a context of T positions adds 4·T·d_attn per layer per token: QKᵀ and
//!   the weighted sum of V, 2·T·d_attn each, over the full context with no causal halving
//!   (Chowdhery et al. 2022, PaLM, Appendix B: training FLOPs ≈ 6N + 12·L·H·Q·T);
//! - a tied projection still multiplies: its FLOPs count even though its weights do not;
//! - training is 3x forward (backward ≈ 2x forward);
//! - a node inside a loop runs `steps` times (the nominal steps: fixed n, the sampled mean,
//!   or an entropy loop's max).

use super::ModalityCost;
use crate::graph::{ArchGraph, EdgeKind, NodeKind};
use crate::model::*;
use petgraph::algo::toposort;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{Dfs, EdgeFiltered, Reversed, Walker};
use std::collections::{HashMap, HashSet};

fn u(x: u64) -> u128 {
    x as u128
}

/// Forward FLOPs per token of one transformer block over a context of `seq` positions.
pub fn block_flops(b: &BlockSpec, seq: u64) -> u128 {
    let (w, a) = (b.width, &b.attention);
    let q = a.heads * a.head_dim;
    let kv = a.kv_heads * a.head_dim;
    let attn_weights = u(w) * u(q) * 2 + 2 * u(w) * u(kv);
    let mlp_weights = match b.mlp.kind {
        MlpKind::Gelu | MlpKind::GeluTanh | MlpKind::Relu => 2 * u(w) * u(b.mlp.hidden),
        MlpKind::Swiglu => 3 * u(w) * u(b.mlp.hidden),
    };
    2 * (attn_weights + mlp_weights) + 4 * u(seq) * u(q)
}

fn mlp_stack_weights(input: u64, m: &MlpStack) -> u128 {
    let mut total = 0;
    let mut w = input;
    for i in 0..m.layers {
        let out = if i + 1 == m.layers { m.out } else { m.hidden };
        total += u(w) * u(out);
        w = out;
    }
    total
}

/// Forward FLOPs per token of one node, run once.
pub fn node_flops(g: &ArchGraph, n: NodeIndex, seq: u64) -> u128 {
    match &g.graph[n].kind {
        NodeKind::Block(b) => block_flops(b, seq),
        NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => {
            2 * mlp_stack_weights(*input, mlp)
        }
        NodeKind::Linear { input, out, .. } => 2 * u(*input) * u(*out),
        // A `next_scale` embedding mixes its L rows' embeddings with a fixed L x L map
        // (docs/semantics.md): 2·L·d per token, as the runtime computes it.
        NodeKind::Embedding(e) if e.next_scale => {
            let rows = g
                .data_inputs(n)
                .iter()
                .find_map(|(s, _)| match &g.graph[*s].kind {
                    NodeKind::Input { modality, .. } => g.next_scale_sides(modality),
                    _ => None,
                });
            let rows: u128 = rows.map_or(0, |sides| sides.iter().map(|s| u(*s) * u(*s)).sum());
            2 * rows * u(e.dim)
        }
        NodeKind::Projection {
            input,
            out,
            projection,
        } => match projection {
            Projection::Linear { .. } | Projection::Tied { .. } => 2 * u(*input) * u(*out),
            Projection::Mlp { hidden, .. } => 2 * (u(*input) * u(*hidden) + u(*hidden) * u(*out)),
            Projection::None => 0,
        },
        NodeKind::Loop {
            inject: Inject::ConcatLinear,
            width,
            ..
        } => 2 * 2 * u(*width) * u(*width),
        // The MLP's weights, once per token (MAR samples a few t per token; not counted).
        NodeKind::Objective { .. } => 2 * super::diffusion_params(g, n).unwrap_or(0),
        _ => 0,
    }
}

fn data_view(
    g: &ArchGraph,
) -> EdgeFiltered<
    &crate::graph::Graph,
    fn(petgraph::stable_graph::EdgeReference<'_, crate::graph::Edge>) -> bool,
> {
    EdgeFiltered::from_fn(&g.graph, |e| {
        matches!(e.weight().kind, EdgeKind::Data { .. })
    })
}

/// How many times each node runs per token (`forward`): the product of the steps of every
/// loop whose segment (after its target, up to and including its source) contains it; and
/// how many of those runs backpropagate (`backprop`: a sampled loop only its last steps).
#[derive(Default)]
pub struct Runs {
    pub forward: HashMap<NodeIndex, u64>,
    pub backprop: HashMap<NodeIndex, u64>,
}

impl Runs {
    pub fn get(&self, n: &NodeIndex) -> Option<&u64> {
        self.forward.get(n)
    }
}

pub fn runs_per_node(g: &ArchGraph) -> Runs {
    let view = data_view(g);
    let mut runs = Runs::default();
    for n in g.graph.node_indices() {
        let NodeKind::Loop { steps, .. } = &g.graph[n].kind else {
            continue;
        };
        let (Some((source, _)), Some(target)) = (
            g.data_inputs(n).first().copied(),
            g.graph
                .edges_directed(n, petgraph::Direction::Outgoing)
                .find(|e| matches!(e.weight().kind, EdgeKind::Loop { .. }))
                .map(|e| petgraph::visit::EdgeRef::target(&e)),
        ) else {
            continue;
        };
        let after_target: HashSet<NodeIndex> = Dfs::new(&view, target)
            .iter(&view)
            .filter(|x| *x != target)
            .collect();
        let before_source: HashSet<NodeIndex> = Dfs::new(Reversed(&view), source)
            .iter(Reversed(&view))
            .collect();
        let backprop = match steps {
            Steps::Sampled { backprop, .. } => *backprop,
            s => s.nominal(),
        };
        for x in after_target.intersection(&before_source) {
            let r = runs.forward.entry(*x).or_insert(1);
            *r = r.saturating_mul(steps.nominal());
            let b = runs.backprop.entry(*x).or_insert(1);
            *b = b.saturating_mul(backprop);
        }
    }
    runs
}

/// The modality a node's positions belong to (`S_text` -> `text`); `None` for shared ones.
fn modality_of(rows: &str) -> Option<&str> {
    rows.strip_prefix("S_")
}

pub fn per_modality(g: &ArchGraph, runs: &Runs, seq: u64) -> Vec<ModalityCost> {
    let order = toposort(&data_view(g), None).unwrap_or_default();
    let mut out = Vec::new();
    let mut inputs: Vec<(NodeIndex, String)> = g
        .graph
        .node_indices()
        .filter_map(|n| match &g.graph[n].kind {
            NodeKind::Input { modality, .. } => Some((n, modality.clone())),
            _ => None,
        })
        .collect();
    inputs.sort();
    for (input, m) in inputs {
        let mine = |n: NodeIndex| modality_of(&g.graph[n].rows).is_none_or(|r| r == m);
        let flops: u128 = g
            .graph
            .node_indices()
            .filter(|n| mine(*n))
            .map(|n| node_flops(g, n, seq) * u(runs.get(&n).copied().unwrap_or(1)))
            .sum();
        // Longest path from this modality's input, counting blocks (times their runs).
        let mut depth: HashMap<NodeIndex, u64> = HashMap::new();
        depth.insert(input, 0);
        let mut best = 0;
        for n in &order {
            let here = if *n == input {
                0
            } else {
                let Some(d) = g
                    .data_inputs(*n)
                    .iter()
                    .filter_map(|(s, _)| depth.get(s))
                    .max()
                    .copied()
                else {
                    continue;
                };
                let own = if matches!(g.graph[*n].kind, NodeKind::Block(_)) {
                    runs.get(n).copied().unwrap_or(1)
                } else {
                    0
                };
                d + own
            };
            if !mine(*n) {
                continue;
            }
            depth.insert(*n, here);
            best = best.max(here);
        }
        out.push(ModalityCost {
            modality: m,
            flops_forward_per_token: flops,
            flops_train_per_token: 3 * flops,
            effective_depth: best,
        });
    }
    out
}
