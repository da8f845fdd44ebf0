//! Exact parameter counts per node (tied weights counted once). The formulas follow the
//! layer definitions in docs/semantics.md; the tests pin GPT-2 small and Llama-2-7B.

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
        let (p, frozen) = node_params(&node.kind, node.width, tied);
        c.total += p;
        if frozen {
            c.frozen += p;
        } else {
            c.trainable += p;
        }
        c.per_node.push((node.path.clone(), p));
    }
    c
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
        MlpKind::Gelu | MlpKind::Relu => {
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
        NodeKind::Embedding(e) => (u(e.vocab) * u(e.dim), e.frozen),
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
