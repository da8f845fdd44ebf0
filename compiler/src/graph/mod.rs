//! `model_to_graph`: the checked graph. One node per layer (embedding, adapter, block,
//! norm, projection, objective, loop …), data edges carrying tensor shapes symbolic in
//! sequence length, loop edges going backwards. Ports (`trunk.blocks.3.out`) resolve to
//! the node whose output they name.

mod build;
mod dump;
mod plan;
mod ports;
mod widths;

use crate::model::*;
use crate::span::Span;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use serde::{Deserialize, Serialize};

pub use build::model_to_graph;
pub use dump::graph_to_json;
pub use plan::{graph_to_plan, head_layers, ExecPlan, LoopPlan};

/// Which top-level item a node belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "item", content = "name", rename_all = "snake_case")]
pub enum Owner {
    Stem(String),
    Trunk(String),
    Head(String),
    Layer(String),
    Alias(String),
    Loop(String),
}

impl Owner {
    pub fn name(&self) -> &str {
        match self {
            Owner::Stem(n)
            | Owner::Trunk(n)
            | Owner::Head(n)
            | Owner::Layer(n)
            | Owner::Alias(n)
            | Owner::Loop(n) => n,
        }
    }
    /// The kind of item: `stem`, `trunk`, `head`, `layer`, `alias` or `loop`.
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Stem(_) => "stem",
            Owner::Trunk(_) => "trunk",
            Owner::Head(_) => "head",
            Owner::Layer(_) => "layer",
            Owner::Alias(_) => "alias",
            Owner::Loop(_) => "loop",
        }
    }

    pub fn describe(&self) -> String {
        format!("{} `{}`", self.kind(), self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeKind {
    /// External data of one modality.
    Input {
        modality: String,
        stem: StemKind,
    },
    Embedding(Embedding),
    /// Learned absolute positions, added to the embedding.
    Positions {
        max_len: u64,
        dim: u64,
    },
    /// A stem's n-layer MLP adapter.
    Adapter {
        input: u64,
        mlp: MlpStack,
    },
    /// The trunk's input: the stems' sequences, in the order the data gives.
    Merge {
        stems: Vec<String>,
    },
    Block(BlockSpec),
    Norm(Norm),
    Linear {
        input: u64,
        out: u64,
        bias: bool,
    },
    /// A free-standing MLP layer.
    Mlp {
        input: u64,
        mlp: MlpStack,
    },
    Alias,
    /// Into the target's space: vocabulary logits, codebook logits, feature rows.
    Projection {
        input: u64,
        out: u64,
        projection: Projection,
    },
    Objective {
        target: Option<String>,
        objective: Objective,
    },
    /// Carries SOURCE's value back to TARGET (the loop edge goes out of this node).
    Loop {
        steps: Steps,
        inject: Inject,
        width: u64,
        /// Position t receives the source's value at t - shift.
        #[serde(default, skip_serializing_if = "is_zero")]
        shift: u64,
    },
}

impl NodeKind {
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Input { .. } => "input",
            NodeKind::Embedding(_) => "embedding",
            NodeKind::Positions { .. } => "positions",
            NodeKind::Adapter { .. } => "adapter",
            NodeKind::Merge { .. } => "merge",
            NodeKind::Block(_) => "block",
            NodeKind::Norm(_) => "norm",
            NodeKind::Linear { .. } => "linear",
            NodeKind::Mlp { .. } => "mlp",
            NodeKind::Alias => "alias",
            NodeKind::Projection { .. } => "projection",
            NodeKind::Objective { .. } => "objective",
            NodeKind::Loop { .. } => "loop",
        }
    }

    /// Pass-throughs do not make a new latent: only a transformer block does
    /// (and the stem layers that turn data into hidden states).
    pub fn is_pass_through(&self) -> bool {
        matches!(
            self,
            NodeKind::Norm(_) | NodeKind::Linear { .. } | NodeKind::Mlp { .. } | NodeKind::Alias
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// The parameter path, equal to the `.arch` names: `trunk.blocks.3`, `lm.norm`.
    pub path: String,
    pub owner: Owner,
    pub kind: NodeKind,
    /// Width of the value this node outputs (0 for objectives and inputs of ids).
    pub width: u64,
    /// Symbolic rows of that value: `S_text` inside a stem, `S` after the merge.
    pub rows: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EdgeKind {
    /// A tensor `[rows, width]` flows along it.
    Data { rows: String, width: u64 },
    /// A loop edge: back to an upstream port.
    Loop { name: String },
    /// The projection shares the embedding's matrix.
    Tied,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Edge {
    #[serde(flatten)]
    pub kind: EdgeKind,
    /// The `from:` (or other source text) that created this edge, for diagnostics.
    #[serde(skip)]
    pub span: Option<Span>,
}

pub type Graph = StableDiGraph<Node, Edge>;

/// The checked graph and what the checks need to find their way in it.
#[derive(Clone, Debug, Default)]
pub struct ArchGraph {
    pub name: String,
    pub graph: Graph,
    /// Resolved parameters, in file order.
    pub params: Vec<Param>,
    pub masks: Vec<Mask>,
    pub lints: Vec<LintAttr>,
    /// Per head: (name, kind, its projection node, target stem).
    pub heads: Vec<HeadInfo>,
    /// Items' output nodes, by name.
    pub outputs: Vec<(String, NodeIndex)>,
}

#[derive(Clone, Debug)]
pub struct HeadInfo {
    pub name: String,
    pub span: Span,
    pub kind: HeadKind,
    pub target: Option<String>,
    pub projection: Option<NodeIndex>,
    /// The node whose output enters the projection: the head's output latent.
    pub latent: Option<NodeIndex>,
    pub objective: Option<Objective>,
}

impl ArchGraph {
    /// Next-position predictions a `prefix(len)` region over `target` leaves out of the
    /// loss: the first len - 1, whose targets their positions can see (docs/semantics.md).
    pub fn prefix_skip(&self, target: &str) -> u64 {
        self.masks
            .iter()
            .filter_map(|m| match m.region {
                Region::Prefix { len } if m.modality == target => Some(len),
                _ => None,
            })
            .max()
            .map_or(0, |len| len.saturating_sub(1))
    }

    /// A `next_scale` stem's scales: the first sides of its modality's `scales(...)` mask
    /// whose squares add up to its rows (a smaller scale of a model can keep the coarse
    /// scales only). `None` for any other stem, and for a `next_scale` stem no prefix of
    /// whose scales covers its rows (which check refuses).
    pub fn next_scale_sides(&self, modality: &str) -> Option<Vec<u64>> {
        let rows = self.graph.node_indices().find_map(|n| {
            if !matches!(&self.graph[n].kind, NodeKind::Embedding(e) if e.next_scale) {
                return None;
            }
            self.data_inputs(n)
                .iter()
                .find_map(|(s, _)| match &self.graph[*s].kind {
                    NodeKind::Input {
                        modality: m,
                        stem: StemKind::Codes { rows, .. },
                    } if m == modality => Some(*rows),
                    _ => None,
                })
        })?;
        self.masks.iter().find_map(|m| match &m.region {
            Region::Scales { sides } if m.modality == modality => scales_covering(sides, rows),
            _ => None,
        })
    }

    /// The share of causal examples of an `mntp(causal)` modality (GPT-BERT), if it has one.
    pub fn mntp_causal(&self, modality: &str) -> Option<f64> {
        self.masks.iter().find_map(|m| match m.region {
            Region::Mntp { causal } if m.modality == modality => Some(causal),
            _ => None,
        })
    }

    /// How far ahead `next_token`/`vq_ce` over `target` predicts: position k scores id
    /// k + 1, except over a `next_scale` stem, whose position k was fed only earlier scales
    /// and scores code k itself.
    pub fn target_shift(&self, target: &str) -> u64 {
        if self.next_scale_sides(target).is_some() {
            0
        } else {
            1
        }
    }

    /// The input stems in the order the data lays them out: the trunk's `from` order, then
    /// stems the trunk does not read, in graph order.
    pub fn stems_in_order(&self) -> Vec<(&str, &StemKind)> {
        let order: Vec<&String> = self
            .graph
            .node_weights()
            .find_map(|n| match &n.kind {
                NodeKind::Merge { stems } => Some(stems.iter().collect()),
                _ => None,
            })
            .unwrap_or_default();
        let mut stems: Vec<(usize, (&str, &StemKind))> = self
            .graph
            .node_weights()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                NodeKind::Input { modality, stem } => {
                    let rank = order
                        .iter()
                        .position(|o| *o == modality)
                        .unwrap_or(order.len() + i);
                    Some((rank, (modality.as_str(), stem)))
                }
                _ => None,
            })
            .collect();
        stems.sort_by_key(|(r, _)| *r);
        stems.into_iter().map(|(_, s)| s).collect()
    }

    /// The embedding a tied projection shares its matrix with.
    pub fn tied_embedding(&self, projection: NodeIndex) -> Option<NodeIndex> {
        use petgraph::visit::EdgeRef;
        self.graph
            .edges_directed(projection, petgraph::Direction::Outgoing)
            .find(|e| e.weight().kind == EdgeKind::Tied)
            .map(|e| e.target())
    }

    /// The kind of the item named `item` (`stem`, `head`, ...), or `item` if none has it.
    pub fn item_kind(&self, item: &str) -> &'static str {
        self.graph
            .node_weights()
            .find(|n| n.owner.name() == item)
            .map_or("item", |n| n.owner.kind())
    }

    /// Data edges only (loop and tied edges are not data flow).
    pub fn data_inputs(&self, n: NodeIndex) -> Vec<(NodeIndex, &Edge)> {
        use petgraph::visit::EdgeRef;
        let mut v: Vec<(NodeIndex, &Edge)> = self
            .graph
            .edges_directed(n, petgraph::Direction::Incoming)
            .filter(|e| matches!(e.weight().kind, EdgeKind::Data { .. }))
            .map(|e| (e.source(), e.weight()))
            .collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// The first of `sides` whose squares add up to `rows` exactly, if any do.
pub fn scales_covering(sides: &[u64], rows: u64) -> Option<Vec<u64>> {
    let mut sum = 0u64;
    for (i, s) in sides.iter().enumerate() {
        sum = sum.checked_add(s.checked_mul(*s)?)?;
        if sum == rows {
            return Some(sides[..=i].to_vec());
        }
    }
    None
}
