//! `runtime_footprint`: about how many bytes archc's own runtime (f32 on burn's ndarray
//! backend) holds at its peak for one command, so `run`, `train`, `sample` and `compare`
//! can refuse a job before it allocates instead of aborting half way (docs/costs.md).
//!
//! Unlike `memory.rs` (the bf16 figures of a well-tuned trainer, from the literature) the
//! coefficients here are this runtime's, measured as the peak resident set of `archc run`
//! and `archc train` on gpt2-tiny, perfect-vlm-tiny and gpt2-small at several batch and
//! sequence sizes (docs/costs.md has the table); they are meant as an upper estimate, not
//! an exact count. Sizes per f32 element:
//! - a block keeps, per row, `c_width · width + c_hidden · hidden` bytes (a SwiGLU MLP's
//!   hidden counts 1.5 times: gate, up and their product) and `c_scores` bytes per
//!   attention score (heads · rows² per sequence, dense in this runtime);
//! - each head's output keeps `c_out` bytes per row and output value;
//! - forward only, the block (or MLP layer) with the largest working set is the peak
//!   (each one's intermediates are freed before the next runs); with a backward pass
//!   every block run and MLP layer that backpropagates keeps its own;
//! - parameters: `run` holds about 2 copies while it initialises them, a backward pass a
//!   third (gradients), training 10 (weights, gradients, AdamW's two moments, and the
//!   checkpoint's serialised weights and moments while they are written);
//! - the graph itself: 2 KiB per node (its copies in the runtime's plan, names, edges).

use super::flops::runs_per_node;
use super::params::count_params;
use crate::graph::{ArchGraph, NodeKind};
use crate::model::MlpKind;
use serde::Serialize;

/// What a command does with the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// One forward pass (`archc run`).
    Forward,
    /// A forward and a backward pass (`archc run --backward`).
    Backward,
    /// Training steps with AdamW and checkpoints (`archc train`, `archc compare`).
    Train,
    /// Cached decoding of `tokens` rows after the prompt (`archc sample`).
    Sample,
}

/// The shape of one batch: sequences, and rows of each sequence in the trunk (every stem's
/// rows together), plus the host-side input values per sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: u64,
    pub rows: u64,
    /// Token ids and feature values of one sequence as the host holds them (8 bytes each).
    pub inputs: u64,
}

/// The estimate, by part (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Weights, and (training) gradients, AdamW's moments and the checkpoint's copies.
    pub parameters: u128,
    /// Intermediate values of the forward (and backward) pass.
    pub activations: u128,
    /// Keys and values cached by the decoder (`sample`).
    pub kv_cache: u128,
    /// The batch's inputs on the host.
    pub inputs: u128,
    /// The checked graph and the runtime's plan of it: `GRAPH_NODE` bytes per node.
    pub graph: u128,
}

impl Footprint {
    pub fn total(&self) -> u128 {
        self.parameters + self.activations + self.kv_cache + self.inputs + self.graph
    }
}

/// The graph, its runtime plan and a node's (shared, empty) module, per node: `archc run
/// --smoke` of gpt2-tiny with a chain of 100,000 `let` aliases peaks at 174 MiB against
/// 33 MiB with 12,500 (about 1.7 KB per alias; 2 KiB here).
const GRAPH_NODE: u128 = 2048;

/// Bytes per element, measured (module docs).
struct Coefficients {
    width: u128,
    hidden: u128,
    scores: u128,
    out: u128,
    param_copies: u128,
}

fn coefficients(job: Job) -> Coefficients {
    match job {
        Job::Forward | Job::Sample => Coefficients {
            width: 24,
            hidden: 8,
            scores: 12,
            out: 12,
            param_copies: 2,
        },
        Job::Backward => Coefficients {
            width: 72,
            hidden: 22,
            scores: 17,
            out: 16,
            param_copies: 3,
        },
        Job::Train => Coefficients {
            width: 72,
            hidden: 22,
            scores: 17,
            out: 16,
            param_copies: 10,
        },
    }
}

/// The estimate for `job` on batches of `shape` (module docs).
pub fn runtime_footprint(g: &ArchGraph, job: Job, shape: Shape) -> Footprint {
    let c = coefficients(job);
    let (b, n) = (u(shape.batch), u(shape.rows));
    let runs = runs_per_node(g);
    let mut largest = 0u128;
    let mut kept = 0u128;
    let mut kv = 0u128;
    let mut outputs = 0u128;
    for i in g.graph.node_indices() {
        // (the node's working set in one run, how many such sets a backward pass keeps)
        let (per_run, layers) = match &g.graph[i].kind {
            NodeKind::Block(s) => {
                let hidden = u(s.mlp.hidden);
                let hidden = match s.mlp.kind {
                    MlpKind::Swiglu => hidden * 3 / 2,
                    _ => hidden,
                };
                let at = &s.attention;
                let decoded = u(runs.get(&i).copied().unwrap_or(1));
                kv = kv.saturating_add(mul(&[decoded, 2, 4, b, n, u(at.kv_heads), u(at.head_dim)]));
                let per_row = c.width * u(s.width) + c.hidden * hidden;
                let scores = mul(&[c.scores, u(at.heads), b, n, n]);
                (mul(&[b, n, per_row]).saturating_add(scores), 1)
            }
            NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
                let per_row = c.width * u(mlp.out) + c.hidden * u(mlp.hidden);
                (mul(&[b, n, per_row]), u(mlp.layers).max(1))
            }
            NodeKind::Projection { out, .. } => {
                outputs = outputs.saturating_add(mul(&[c.out, b, n, u(*out)]));
                (0, 0)
            }
            _ => (0, 0),
        };
        let backprop = u(runs.backprop.get(&i).copied().unwrap_or(1));
        largest = largest.max(per_run);
        kept = kept.saturating_add(mul(&[per_run, layers, backprop]));
    }
    let activations = match job {
        Job::Forward | Job::Sample => largest,
        Job::Backward | Job::Train => kept,
    }
    .saturating_add(outputs);
    Footprint {
        parameters: mul(&[count_params(g).total, 4, c.param_copies]),
        activations,
        kv_cache: if job == Job::Sample { kv } else { 0 },
        inputs: mul(&[8, b, u(shape.inputs)]),
        graph: mul(&[GRAPH_NODE, g.graph.node_count() as u128]),
    }
}

fn u(x: u64) -> u128 {
    x as u128
}

/// A product that saturates instead of overflowing (a hostile batch size is still refused).
fn mul(xs: &[u128]) -> u128 {
    xs.iter().fold(1u128, |p, x| p.saturating_mul(*x))
}
