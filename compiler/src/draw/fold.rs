//! Runs of identical blocks drawn as one box: `trunk.blocks.0..29  block llama x30`.
//! A picture of a 32-layer model does not need 32 equal boxes, and layout-rs's time grows
//! about with the cube of the node count (4 s at 1,600 nodes), so folding also keeps
//! `archc build` fast on deep models.
//!
//! A block joins the run before it only if nothing else touches the seam: the previous
//! block's one outgoing edge is the data edge to it, and that is its one incoming edge.
//! So a block a head reads from, a loop returns to, or a port names stays its own box.

use crate::graph::{ArchGraph, NodeKind};
use crate::model::BlockSpec;
use petgraph::stable_graph::NodeIndex;
use petgraph::Direction;
use std::collections::HashMap;

/// Runs shorter than this are drawn block by block.
const MIN_RUN: usize = 3;

pub struct Folds {
    /// A folded node -> the first node of its run (the one drawn).
    pub rep: HashMap<NodeIndex, NodeIndex>,
    /// The first node of a run -> (blocks in it, path of its last block).
    pub runs: HashMap<NodeIndex, (usize, String)>,
}

impl Folds {
    /// The node an edge end is drawn at.
    pub fn drawn(&self, n: NodeIndex) -> NodeIndex {
        self.rep.get(&n).copied().unwrap_or(n)
    }
}

/// Two blocks are the same layer if everything but where they were written agrees.
fn same(a: &BlockSpec, b: &BlockSpec) -> bool {
    (
        &a.def,
        a.width,
        &a.norm,
        a.placement,
        &a.attention,
        &a.mlp,
        a.dropout,
        a.frozen,
    ) == (
        &b.def,
        b.width,
        &b.norm,
        b.placement,
        &b.attention,
        &b.mlp,
        b.dropout,
        b.frozen,
    )
}

pub fn fold_runs(g: &ArchGraph) -> Folds {
    let mut order: Vec<NodeIndex> = g.graph.node_indices().collect();
    order.sort();
    let mut runs: Vec<Vec<NodeIndex>> = Vec::new();
    let mut current: Vec<NodeIndex> = Vec::new();
    for n in order {
        let joins = current.last().is_some_and(|&prev| {
            let (NodeKind::Block(a), NodeKind::Block(b)) = (&g.graph[prev].kind, &g.graph[n].kind)
            else {
                return false;
            };
            let outs: Vec<_> = g
                .graph
                .neighbors_directed(prev, Direction::Outgoing)
                .collect();
            let ins: Vec<_> = g.graph.neighbors_directed(n, Direction::Incoming).collect();
            same(a, b) && g.graph[prev].owner == g.graph[n].owner && outs == [n] && ins == [prev]
        });
        if !joins {
            runs.push(std::mem::take(&mut current));
        }
        if matches!(g.graph[n].kind, NodeKind::Block(_)) {
            current.push(n);
        }
    }
    runs.push(current);
    let mut folds = Folds {
        rep: HashMap::new(),
        runs: HashMap::new(),
    };
    for run in runs.into_iter().filter(|r| r.len() >= MIN_RUN) {
        let (first, last) = (run[0], run[run.len() - 1]);
        folds
            .runs
            .insert(first, (run.len(), g.graph[last].path.clone()));
        for n in &run[1..] {
            folds.rep.insert(*n, first);
        }
    }
    folds
}
