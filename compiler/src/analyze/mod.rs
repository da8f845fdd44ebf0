//! `graph_to_summary`: what a model costs. Exact parameter counts (`params.rs`), FLOPs per
//! token and effective depth with loops unrolled (`flops.rs`), and memory (`memory.rs`),
//! per item and in total. Formulas and their sources are in docs/costs.md.

mod flops;
mod footprint;
mod memory;
mod params;

pub use flops::{block_flops, node_flops, step_flops};
pub use footprint::{runtime_footprint, Footprint, Job, Shape};
pub use params::{
    block_params, count_params, diffusion_mlp, diffusion_params, norm_params, token_dim, ParamCount,
};

use crate::graph::{ArchGraph, NodeKind, Owner};
use petgraph::stable_graph::NodeIndex;
use serde::Serialize;

/// The batch and sequence length costs are stated at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub batch: u64,
    pub seq: u64,
}

impl Workload {
    /// Batch 1 at the longest sequence a `tokens` stem declares (2048 if none does).
    pub fn default_for(g: &ArchGraph) -> Workload {
        let seq = g
            .graph
            .node_weights()
            .filter_map(|n| match &n.kind {
                NodeKind::Input {
                    stem: crate::model::StemKind::Tokens { max_len, .. },
                    ..
                } => Some(*max_len),
                _ => None,
            })
            .max()
            .unwrap_or(2048);
        Workload { batch: 1, seq }
    }
}

/// One node's line in the tree.
#[derive(Clone, Debug, Serialize)]
pub struct NodeCost {
    pub path: String,
    pub kind: String,
    pub params: u128,
    pub frozen: bool,
    /// Forward FLOPs per token of its modality, loops unrolled.
    pub flops_forward: u128,
    /// How many times it runs per token (loop steps multiply).
    pub runs: u64,
    /// For blocks: the `block` definition (so identical blocks group in the tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub def: Option<String>,
}

/// A top-level item (stem, trunk, head, layer, loop) and its nodes.
#[derive(Clone, Debug, Serialize)]
pub struct ItemCost {
    pub item: String,
    pub name: String,
    pub params: u128,
    pub flops_forward: u128,
    pub nodes: Vec<NodeCost>,
}

/// Costs for tokens of one modality: the stem's layers, the trunk, the heads predicting it.
#[derive(Clone, Debug, Serialize)]
pub struct ModalityCost {
    pub modality: String,
    pub flops_forward_per_token: u128,
    /// Training: forward and backward, 3x forward (Kaplan et al. 2020).
    pub flops_train_per_token: u128,
    /// Transformer blocks a token passes through, loops unrolled (longest path).
    pub effective_depth: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub model: String,
    pub workload: Workload,
    pub items: Vec<ItemCost>,
    pub params: u128,
    pub trainable: u128,
    pub frozen: u128,
    pub param_bytes_f32: u128,
    pub param_bytes_bf16: u128,
    pub modalities: Vec<ModalityCost>,
    /// Training activations for the workload, bf16, no recomputation (Korthikanti et al. 2022).
    pub activation_bytes: u128,
    /// Keys and values of every attention layer for the workload, bf16.
    pub kv_cache_bytes: u128,
}

pub fn graph_to_summary(g: &ArchGraph, w: Workload) -> Summary {
    let counts = count_params(g);
    let runs = flops::runs_per_node(g);
    let mut order: Vec<NodeIndex> = g.graph.node_indices().collect();
    order.sort();
    let mut items: Vec<ItemCost> = Vec::new();
    let mut index: std::collections::HashMap<(&str, String), usize> = Default::default();
    for (i, n) in order.iter().enumerate() {
        let node = &g.graph[*n];
        let (item, name) = owner_parts(&node.owner);
        let r = runs.get(n).copied().unwrap_or(1);
        let cost = NodeCost {
            path: node.path.clone(),
            kind: node.kind.name().to_string(),
            params: counts.per_node[i].1,
            frozen: counts.frozen_nodes.contains(&node.path),
            flops_forward: node_flops(g, *n, w.seq) * r as u128,
            runs: r,
            def: match &node.kind {
                NodeKind::Block(b) => Some(b.def.clone()),
                _ => None,
            },
        };
        match index.get(&(item, name.to_string())).map(|&k| &mut items[k]) {
            Some(it) => {
                it.params += cost.params;
                it.flops_forward += cost.flops_forward;
                it.nodes.push(cost);
            }
            None => {
                index.insert((item, name.to_string()), items.len());
                items.push(ItemCost {
                    item: item.into(),
                    name: name.into(),
                    params: cost.params,
                    flops_forward: cost.flops_forward,
                    nodes: vec![cost],
                })
            }
        }
    }
    // Parameters that are not nodes (mask tokens) join their stem's line.
    for (path, params) in counts.per_node.iter().skip(order.len()) {
        let stem = path.split('.').next().unwrap_or("");
        if let Some(it) = index
            .get(&("stem", stem.to_string()))
            .map(|&k| &mut items[k])
        {
            it.params += params;
            it.nodes.push(NodeCost {
                path: path.clone(),
                kind: "mask_token".into(),
                params: *params,
                frozen: false,
                flops_forward: 0,
                runs: 1,
                def: None,
            });
        }
    }
    let modalities = flops::per_modality(g, &runs, w.seq);
    Summary {
        model: g.name.clone(),
        workload: w,
        items,
        params: counts.total,
        trainable: counts.trainable,
        frozen: counts.frozen,
        param_bytes_f32: counts.total * 4,
        param_bytes_bf16: counts.total * 2,
        modalities,
        activation_bytes: memory::activation_bytes(g, &runs, w),
        kv_cache_bytes: memory::kv_cache_bytes(g, &runs, w),
    }
}

fn owner_parts(o: &Owner) -> (&'static str, &str) {
    match o {
        Owner::Stem(n) => ("stem", n),
        Owner::Trunk(n) => ("trunk", n),
        Owner::Head(n) => ("head", n),
        Owner::Layer(n) => ("layer", n),
        Owner::Alias(n) => ("let", n),
        Owner::Loop(n) => ("loop", n),
    }
}
