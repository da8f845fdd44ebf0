//! Memory for a batch x sequence (docs/costs.md):
//! - training activations per transformer block: s·b·h·(34 + 5·a·s/h) bytes, bf16, no
//!   recomputation (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
//!   Transformer Models", eq. 1; derived for a GPT block with a 4h MLP, so an
//!   approximation for other MLP widths); a looped block keeps activations for the steps it
//!   backpropagates through (all steps, or a sampled loop's `backprop`);
//! - KV cache: 2 (keys and values) · b · s · kv_heads · head_dim per block run, bf16.

use super::flops::Runs;
use super::Workload;
use crate::graph::{ArchGraph, NodeKind};

const BF16: u128 = 2;

fn u(x: u64) -> u128 {
    x as u128
}

pub fn activation_bytes(g: &ArchGraph, runs: &Runs, w: Workload) -> u128 {
    let (s, b) = (u(w.seq), u(w.batch));
    g.graph
        .node_indices()
        .filter_map(|n| match &g.graph[n].kind {
            NodeKind::Block(spec) => {
                let (h, a) = (u(spec.width), u(spec.attention.heads));
                // s·b·h·34 + 5·a·s²·b, the same as s·b·h·(34 + 5as/h) without rounding.
                let per_run = s * b * h * 34 + 5 * a * s * s * b;
                Some(per_run * u(runs.backprop.get(&n).copied().unwrap_or(1)))
            }
            _ => None,
        })
        .sum()
}

pub fn kv_cache_bytes(g: &ArchGraph, runs: &Runs, w: Workload) -> u128 {
    g.graph
        .node_indices()
        .filter_map(|n| match &g.graph[n].kind {
            NodeKind::Block(spec) => {
                let a = &spec.attention;
                let per_run = 2 * u(w.batch) * u(w.seq) * u(a.kv_heads) * u(a.head_dim) * BF16;
                Some(per_run * u(runs.get(&n).copied().unwrap_or(1)))
            }
            _ => None,
        })
        .sum()
}
