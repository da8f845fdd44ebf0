//! Exact parameter counts per node (tied weights counted once). The tests pin GPT-2 small
//! and Llama-2-7B against their published counts.

use crate::graph::{ArchGraph, EdgeKind, NodeKind};
use crate::model::*;
use petgraph::stable_graph::NodeIndex;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamCount {
    pub total: u128,
    pub trainable: u128,
    pub frozen: u128,
    /// Per node path, in node order.
    pub per_node: Vec<(String, u128)>,
    /// Paths of the nodes whose parameters are frozen.
    pub frozen_nodes: std::collections::HashSet<String>,
}

pub fn count_params(g: &ArchGraph) -> ParamCount {
    let mut c = ParamCount::default();
    let mut nodes: Vec<NodeIndex> = g.graph.node_indices().collect();
    nodes.sort();
    for n in nodes {
        let node = &g.graph[n];
        let tied = g
            .graph
            .edges_directed(n, petgraph::Direction::Outgoing)
            .any(|e| e.weight().kind == EdgeKind::Tied);
        let (p, frozen) = match diffusion_params(g, n) {
            Some(p) => (p, false),
            None => node_params(&node.kind, node.width, tied),
        };
        c.total += p;
        if frozen {
            c.frozen += p;
            c.frozen_nodes.insert(node.path.clone());
        } else {
            c.trainable += p;
        }
        c.per_node.push((node.path.clone(), p));
    }
    // `mask_tokens`: one learned token, as wide as the last layer of the modality's stem
    // before its blocks (where the runtime replaces masked rows; docs/semantics.md).
    for m in g
        .masks
        .iter()
        .filter(|m| matches!(m.region, Region::MaskTokens { .. }))
    {
        let stem = crate::graph::Owner::Stem(m.modality.clone());
        let width = nodes_in_order(g)
            .into_iter()
            .rev()
            .find(|n| g.graph[*n].owner == stem && !matches!(g.graph[*n].kind, NodeKind::Block(_)))
            .map(|n| g.graph[n].width);
        if let Some(w) = width {
            c.total += u(w);
            c.trainable += u(w);
            c.per_node
                .push((format!("{}.mask_token", m.modality), u(w)));
        }
    }
    c
}

fn nodes_in_order(g: &ArchGraph) -> Vec<NodeIndex> {
    let mut v: Vec<NodeIndex> = g.graph.node_indices().collect();
    v.sort();
    v
}

/// The parameters of a `diffusion` objective node: its MLP, sized by the head's hidden
/// state (the node's input) and the target modality's token width.
pub fn diffusion_params(g: &ArchGraph, n: NodeIndex) -> Option<u128> {
    let NodeKind::Objective {
        target,
        objective:
            Objective {
                kind: ObjectiveKind::Diffusion { layers, width, .. },
                ..
            },
    } = &g.graph[n].kind
    else {
        return None;
    };
    let z = g
        .data_inputs(n)
        .first()
        .map_or(0, |(src, _)| g.graph[*src].width);
    Some(diffusion_mlp(
        token_dim(g, target.as_deref()),
        z,
        *width,
        *layers,
    ))
}

/// The width of one token of a stem's modality (the feature width of a `features` stem).
pub fn token_dim(g: &ArchGraph, stem: Option<&str>) -> u64 {
    g.graph
        .node_weights()
        .find_map(|n| match &n.kind {
            NodeKind::Input {
                modality,
                stem: StemKind::Features { dim, .. },
            } if Some(modality.as_str()) == stem => Some(*dim),
            _ => None,
        })
        .unwrap_or(0)
}

/// MAR's per-token diffusion MLP (Li et al. 2024, "Autoregressive Image Generation without
/// Vector Quantization", `diffloss.py`: `SimpleMLPAdaLN` with `learn_sigma`): a timestep
/// embedder (256 -> w -> w), a condition projection (z -> w), an input projection
/// (d -> w), `layers` residual blocks (LayerNorm, w -> w -> w MLP, adaLN w -> 3w), and a
/// final layer (adaLN w -> 2w, w -> 2d). All linear maps have biases.
pub fn diffusion_mlp(d: u64, z: u64, w: u64, layers: u64) -> u128 {
    let lin = |i: u64, o: u64| linear(i, o, true);
    let time = lin(256, w) + lin(w, w);
    let block = 2 * u(w) + 2 * lin(w, w) + lin(w, 3 * w);
    let last = lin(w, 2 * w) + lin(w, 2 * d);
    time + lin(z, w) + lin(d, w) + u(layers) * block + last
}

fn u(x: u64) -> u128 {
    x as u128
}

fn linear(i: u64, o: u64, bias: bool) -> u128 {
    u(i) * u(o) + if bias { u(o) } else { 0 }
}

pub fn norm_params(n: &Norm, width: u64) -> u128 {
    match n.kind {
        NormKind::Layernorm { bias: true } => 2 * u(width),
        NormKind::Layernorm { bias: false } | NormKind::Rmsnorm => u(width),
    }
}

fn mlp_stack(input: u64, m: &MlpStack) -> u128 {
    let mut total = 0;
    let mut w = input;
    for i in 0..m.layers {
        let out = if i + 1 == m.layers { m.out } else { m.hidden };
        total += linear(w, out, m.bias);
        w = out;
    }
    total
}

pub fn block_params(b: &BlockSpec) -> u128 {
    let w = b.width;
    let a = &b.attention;
    let q = a.heads * a.head_dim;
    let kv = a.kv_heads * a.head_dim;
    let attn = linear(w, q, a.bias) + 2 * linear(w, kv, a.bias) + linear(q, w, a.bias);
    let qk = if a.qk_norm {
        2 * norm_params(&b.norm, a.head_dim)
    } else {
        0
    };
    let mlp = match b.mlp.kind {
        MlpKind::Gelu | MlpKind::GeluTanh | MlpKind::Relu => {
            linear(w, b.mlp.hidden, b.mlp.bias) + linear(b.mlp.hidden, w, b.mlp.bias)
        }
        MlpKind::Swiglu => {
            2 * linear(w, b.mlp.hidden, b.mlp.bias) + linear(b.mlp.hidden, w, b.mlp.bias)
        }
    };
    let norms = match b.placement {
        Placement::Sandwich => 4,
        _ => 2,
    };
    attn + qk + mlp + norms * norm_params(&b.norm, w)
}

/// (parameters, frozen?) of one node.
fn node_params(kind: &NodeKind, width: u64, tied: bool) -> (u128, bool) {
    match kind {
        NodeKind::Input { .. } | NodeKind::Merge { .. } | NodeKind::Alias => (0, false),
        // A `next_scale` embedding adds its `start` vector.
        NodeKind::Embedding(e) => (
            u(e.vocab) * u(e.dim) + if e.next_scale { u(e.dim) } else { 0 },
            e.frozen,
        ),
        NodeKind::Positions { max_len, dim } => (u(*max_len) * u(*dim), false),
        NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => {
            (mlp_stack(*input, mlp), mlp.frozen)
        }
        NodeKind::Block(b) => (block_params(b), b.frozen),
        NodeKind::Norm(n) => (norm_params(n, width), false),
        NodeKind::Linear { input, out, bias } => (linear(*input, *out, *bias), false),
        NodeKind::Projection {
            input,
            out,
            projection,
        } => match projection {
            _ if tied => (0, false),
            Projection::Linear { bias } => (linear(*input, *out, *bias), false),
            Projection::Mlp { hidden, .. } => (
                linear(*input, *hidden, true) + linear(*hidden, *out, true),
                false,
            ),
            Projection::Tied { .. } | Projection::None => (0, false),
        },
        NodeKind::Objective { .. } => (0, false),
        NodeKind::Loop { inject, width, .. } => match inject {
            // Huginn's adapter: Linear(2 * width -> width), no bias.
            Inject::ConcatLinear => (linear(2 * width, *width, false), false),
            _ => (0, false),
        },
    }
}
