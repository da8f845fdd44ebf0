//! `graph_to_ir`: the checked graph as a versioned, deterministic, serialisable document
//! — what later commands and the runtime consume. Same file, byte-identical IR.

mod compare;
pub mod read;
mod source;
mod yaml;

pub use compare::compare;
pub use source::{block_def_name, ir_to_ast};

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

/// Why an IR document cannot be read back.
#[derive(Clone, Debug, PartialEq)]
pub enum IrError {
    /// Not YAML or JSON of the IR's shape (a truncated file, another document).
    Malformed(String),
    /// Written by an archc with another IR schema.
    Schema { found: u64, expected: u32 },
    /// An edge names a node that does not exist.
    BadEdge {
        edge: usize,
        node: usize,
        nodes: usize,
    },
}

impl std::fmt::Display for IrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IrError::Malformed(e) => write!(f, "not an archc IR document: {e}"),
            IrError::Schema { found, expected } => {
                write!(f, "IR schema {found}, but this archc reads schema {expected}; rebuild it from the .arch file")
            }
            IrError::BadEdge { edge, node, nodes } => {
                write!(
                    f,
                    "edge {edge} refers to node {node}, but the IR has {nodes} nodes"
                )
            }
        }
    }
}

/// The IR as YAML (what `archc build` writes as `ir.yaml`).
pub fn ir_to_yaml(ir: &Ir) -> String {
    let json = serde_json::to_string(ir).expect("the IR serialises: plain data, string keys");
    yaml::json_to_yaml(&json)
}

/// Reads IR YAML (or JSON, which is YAML) back, checking the schema first.
pub fn yaml_to_ir(text: &str) -> Result<Ir, IrError> {
    #[derive(Deserialize)]
    struct Header {
        schema: u64,
    }
    let header: Header =
        serde_norway::from_str(text).map_err(|e| IrError::Malformed(e.to_string()))?;
    if header.schema != u64::from(IR_SCHEMA) {
        return Err(IrError::Schema {
            found: header.schema,
            expected: IR_SCHEMA,
        });
    }
    let ir: Ir = serde_norway::from_str(text).map_err(|e| IrError::Malformed(e.to_string()))?;
    for (i, e) in ir.edges.iter().enumerate() {
        for node in [e.from, e.to] {
            if node >= ir.nodes.len() {
                return Err(IrError::BadEdge {
                    edge: i,
                    node,
                    nodes: ir.nodes.len(),
                });
            }
        }
    }
    Ok(ir)
}
