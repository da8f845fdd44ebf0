//! `graph_to_ir`: the checked graph as a versioned, deterministic, serialisable document
//! — what later commands and the runtime consume. Same file, byte-identical IR.

use crate::eval::Value;
use crate::graph::{ArchGraph, EdgeKind, Node};
use crate::model::Region;
use serde::{Deserialize, Serialize};

/// Bumped on any change a consumer could notice.
pub const IR_SCHEMA: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ir {
    pub schema: u32,
    pub model: String,
    pub params: Vec<IrParam>,
    /// Lint attributes in the file (`allow(output_latent_sharing)` among them).
    pub lints: Vec<IrLint>,
    pub masks: Vec<IrMask>,
    /// Nodes in a stable order; edges refer to them by index.
    pub nodes: Vec<Node>,
    pub edges: Vec<IrEdge>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IrParam {
    pub name: String,
    pub value: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overridden: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IrLint {
    pub lint: String,
    pub level: String,
    /// The item the attribute sits on; absent for the whole file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IrMask {
    pub modality: String,
    pub region: Region,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IrEdge {
    pub from: usize,
    pub to: usize,
    #[serde(flatten)]
    pub kind: EdgeKind,
}

pub fn graph_to_ir(g: &ArchGraph) -> Ir {
    let mut order: Vec<_> = g.graph.node_indices().collect();
    order.sort();
    let pos = |n| order.binary_search(&n).expect("every node is in the order");
    let nodes = order.iter().map(|n| g.graph[*n].clone()).collect();
    let mut edges: Vec<IrEdge> = g
        .graph
        .edge_indices()
        .filter_map(|e| {
            let (a, b) = g.graph.edge_endpoints(e)?;
            Some(IrEdge {
                from: pos(a),
                to: pos(b),
                kind: g.graph[e].kind.clone(),
            })
        })
        .collect();
    edges.sort_by_key(|e| (e.from, e.to));
    Ir {
        schema: IR_SCHEMA,
        model: g.name.clone(),
        params: g
            .params
            .iter()
            .map(|p| IrParam {
                name: p.name.clone(),
                value: p.value,
                overridden: p.overridden,
            })
            .collect(),
        lints: g
            .lints
            .iter()
            .map(|l| IrLint {
                lint: l.lint.name().to_string(),
                level: l.level.as_str().to_string(),
                item: l.item.clone(),
            })
            .collect(),
        masks: g
            .masks
            .iter()
            .map(|m| IrMask {
                modality: m.modality.clone(),
                region: m.region.clone(),
            })
            .collect(),
        nodes,
        edges,
    }
}
