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

/// Per modality: the FLOPs of its own nodes and the shared ones, and the longest path from
/// its input through them. Linear in the graph for a fixed trunk: each modality walks only
/// what its input reaches (its stem, then the shared nodes downstream), pushing depths
/// along out-edges, so a merge of N stems is not read N times.
pub fn per_modality(g: &ArchGraph, runs: &Runs, seq: u64) -> Vec<ModalityCost> {
    let order = toposort(&data_view(g), None).unwrap_or_default();
    let rank: HashMap<NodeIndex, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut shared_flops: u128 = 0;
    let mut own_flops: HashMap<&str, u128> = HashMap::new();
    for n in g.graph.node_indices() {
        let f = node_flops(g, n, seq) * u(runs.get(&n).copied().unwrap_or(1));
        match modality_of(&g.graph[n].rows) {
            None => shared_flops += f,
            Some(m) => *own_flops.entry(m).or_default() += f,
        }
    }
    let mut inputs: Vec<(NodeIndex, String)> = g
        .graph
        .node_indices()
        .filter_map(|n| match &g.graph[n].kind {
            NodeKind::Input { modality, .. } => Some((n, modality.clone())),
            _ => None,
        })
        .collect();
    inputs.sort();
    let mut out = Vec::new();
    for (input, m) in inputs {
        let mine = |n: NodeIndex| modality_of(&g.graph[n].rows).is_none_or(|r| r == m);
        let own = |n: NodeIndex| match g.graph[n].kind {
            NodeKind::Block(_) => runs.get(&n).copied().unwrap_or(1),
            _ => 0,
        };
        // What this input reaches through its own and shared nodes, in topological order.
        let mut reached: Vec<NodeIndex> = Vec::new();
        let mut seen: HashSet<NodeIndex> = HashSet::new();
        let mut stack = vec![input];
        seen.insert(input);
        while let Some(n) = stack.pop() {
            reached.push(n);
            for t in data_outputs(g, n) {
                if mine(t) && seen.insert(t) {
                    stack.push(t);
                }
            }
        }
        reached.sort_by_key(|n| rank.get(n).copied().unwrap_or(usize::MAX));
        // Longest path from this modality's input, counting blocks (times their runs).
        let mut depth: HashMap<NodeIndex, u64> = HashMap::new();
        let mut best = 0;
        for n in reached {
            let here = if n == input {
                0
            } else {
                match depth.get(&n) {
                    Some(d) => *d,
                    None => continue,
                }
            };
            depth.insert(n, here);
            best = best.max(here);
            for t in data_outputs(g, n) {
                if mine(t) {
                    let d = depth.entry(t).or_insert(0);
                    *d = (*d).max(here + own(t));
                }
            }
        }
        let flops = shared_flops + own_flops.get(m.as_str()).copied().unwrap_or(0);
        out.push(ModalityCost {
            modality: m,
            flops_forward_per_token: flops,
            flops_train_per_token: 3 * flops,
            effective_depth: best,
        });
    }
    out
}

/// FLOPs of one step over `batch` sequences whose stems have `rows` rows each (by stem
/// name): every modality's forward FLOPs per token (its own nodes and the shared ones,
/// over a context of all the rows) times its rows, and 3x that with a backward pass.
pub fn step_flops(g: &ArchGraph, rows: &[(&str, u64)], batch: u64, backward: bool) -> u128 {
    let context: u64 = rows.iter().map(|r| r.1).fold(0, u64::saturating_add);
    let per = per_modality(g, &runs_per_node(g), context);
    let rows: HashMap<&str, u64> = rows.iter().copied().collect();
    let forward = per
        .iter()
        .map(|m| {
            let n = rows.get(m.modality.as_str()).copied().unwrap_or(0);
            m.flops_forward_per_token.saturating_mul(u(n))
        })
        .fold(0u128, u128::saturating_add)
        .saturating_mul(u(batch));
    if backward {
        forward.saturating_mul(3)
    } else {
        forward
    }
}

/// The nodes a data edge out of `n` reaches.
fn data_outputs(g: &ArchGraph, n: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
    use petgraph::visit::EdgeRef;
    g.graph
        .edges_directed(n, petgraph::Direction::Outgoing)
        .filter(|e| matches!(e.weight().kind, EdgeKind::Data { .. }))
        .map(|e| e.target())
}
