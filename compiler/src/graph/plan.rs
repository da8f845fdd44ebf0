//! `graph_to_plan`: how a checked graph runs — its nodes in order, each loop's segment,
//! and where mask tokens apply. The runtime executes this plan and the code generators
//! emit it, so they cannot disagree on order (docs/semantics.md).

use super::{ArchGraph, EdgeKind, NodeKind, Owner};
use crate::model::{Inject, Region, Steps};
use petgraph::algo::toposort;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{Dfs, EdgeFiltered, Reversed, Walker};
use std::collections::HashSet;

/// A loop: after `source` is computed, `target` is replaced (per `inject`) and the
/// `segment` (the nodes after `target` up to `source`, in order) runs again.
#[derive(Clone, Debug)]
pub struct LoopPlan {
    pub node: NodeIndex,
    pub source: NodeIndex,
    pub target: NodeIndex,
    pub segment: Vec<NodeIndex>,
    pub steps: Steps,
    pub inject: Inject,
    /// Position t receives the source's value at t - shift (COCONUT: 1).
    pub shift: usize,
}

#[derive(Clone, Debug)]
pub struct ExecPlan {
    /// Every node, data edges before their readers.
    pub order: Vec<NodeIndex>,
    pub loops: Vec<LoopPlan>,
    /// Nodes whose output rows a batch may mask (the last layer of a `mask_tokens`
    /// modality's stem before its own blocks), with that modality.
    pub mask_points: Vec<(NodeIndex, String)>,
}

impl ExecPlan {
    /// A head's layers in order, its objective left out: what an entropy gate evaluates.
    pub fn head_layers(&self, g: &ArchGraph, head: &str) -> Vec<NodeIndex> {
        head_layers(g, &self.order, head)
    }

    /// The position domains (`S`, `S_text`, ...) that blocks attend over, in order.
    pub fn block_domains(&self, g: &ArchGraph) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &n in &self.order {
            let rows = &g.graph[n].rows;
            if matches!(g.graph[n].kind, NodeKind::Block(_)) && !out.contains(rows) {
                out.push(rows.clone());
            }
        }
        out
    }
}

/// A head's layers in `order`, its objective left out.
pub fn head_layers(g: &ArchGraph, order: &[NodeIndex], head: &str) -> Vec<NodeIndex> {
    order
        .iter()
        .copied()
        .filter(|n| matches!(&g.graph[*n].owner, Owner::Head(h) if h == head))
        .filter(|n| !matches!(g.graph[*n].kind, NodeKind::Objective { .. }))
        .collect()
}

/// The plan, or None when the data edges have a cycle (a checked graph has none).
pub fn graph_to_plan(g: &ArchGraph) -> Option<ExecPlan> {
    let data = EdgeFiltered::from_fn(&g.graph, |e| {
        matches!(e.weight().kind, EdgeKind::Data { .. })
    });
    let order = toposort(&data, None).ok()?;
    let loops = loop_plans(g, &order);
    let mut mask_points = Vec::new();
    for m in g
        .masks
        .iter()
        .filter(|m| matches!(m.region, Region::MaskTokens { .. }))
    {
        let stem = Owner::Stem(m.modality.clone());
        let point =
            order.iter().rev().copied().find(|n| {
                g.graph[*n].owner == stem && !matches!(g.graph[*n].kind, NodeKind::Block(_))
            });
        if let Some(p) = point {
            mask_points.push((p, m.modality.clone()));
        }
    }
    Some(ExecPlan {
        order,
        loops,
        mask_points,
    })
}

fn loop_plans(g: &ArchGraph, order: &[NodeIndex]) -> Vec<LoopPlan> {
    let data = EdgeFiltered::from_fn(&g.graph, |e| {
        matches!(e.weight().kind, EdgeKind::Data { .. })
    });
    let mut out = Vec::new();
    for &n in order {
        let NodeKind::Loop {
            steps,
            inject,
            shift,
            ..
        } = &g.graph[n].kind
        else {
            continue;
        };
        let Some(&(source, _)) = g.data_inputs(n).first() else {
            continue;
        };
        let Some(target) = g
            .graph
            .edges_directed(n, petgraph::Direction::Outgoing)
            .find(|e| matches!(e.weight().kind, EdgeKind::Loop { .. }))
            .map(|e| petgraph::visit::EdgeRef::target(&e))
        else {
            continue;
        };
        let after: HashSet<NodeIndex> = Dfs::new(&data, target)
            .iter(&data)
            .filter(|x| *x != target)
            .collect();
        let before: HashSet<NodeIndex> = Dfs::new(Reversed(&data), source)
            .iter(Reversed(&data))
            .collect();
        let segment = order
            .iter()
            .copied()
            .filter(|x| after.contains(x) && before.contains(x))
            .collect();
        out.push(LoopPlan {
            node: n,
            source,
            target,
            segment,
            steps: steps.clone(),
            inject: *inject,
            shift: *shift as usize,
        });
    }
    out
}
