//! `graph_to_model`: one burn module per graph node, run in topological order. Supported
//! so far (issue 5 in progress): token stems (embedding, learned positions, adapters,
//! blocks), one stem feeding the trunk, blocks in every placement, norms, free linear and
//! MLP layers, aliases, and linear / tied / MLP projections. Loops, several stems in one
//! sequence, feature inputs and mask regions other than causal are refused with a
//! clear error, not run wrongly.

use crate::layers::{linear, Block, Norm};
use crate::weights::{WeightError, Weights};
use archc::graph::{ArchGraph, EdgeKind, NodeKind, Owner};
use archc::model::{Act, MlpStack, Projection, Region, StemKind};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu, silu};
use burn::tensor::{backend::Backend, Bool, Int, Tensor};
use petgraph::algo::toposort;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::EdgeFiltered;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the runtime cannot run this model yet: {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

/// The parameters of one graph node (most fields empty for any one node).
#[derive(Module, Debug)]
pub struct NodeModule<B: Backend> {
    pub table: Option<Param<Tensor<B, 2>>>,
    pub block: Option<Block<B>>,
    pub norm: Option<Norm<B>>,
    pub linears: Vec<Linear<B>>,
}

impl<B: Backend> NodeModule<B> {
    fn empty() -> Self {
        NodeModule {
            table: None,
            block: None,
            norm: None,
            linears: Vec::new(),
        }
    }
}

#[derive(Module, Debug)]
pub struct ArchModel<B: Backend> {
    pub nodes: Vec<NodeModule<B>>,
}

/// How to run the modules: the graph's order and wiring (not parameters).
#[derive(Clone, Debug)]
pub struct Plan {
    pub graph: ArchGraph,
    pub order: Vec<NodeIndex>,
    /// Node index -> position in `ArchModel::nodes`.
    pub slot: HashMap<NodeIndex, usize>,
}

fn mlp_stack<B: Backend>(input: u64, m: &MlpStack, device: &B::Device) -> Vec<Linear<B>> {
    let mut w = input as usize;
    (0..m.layers)
        .map(|i| {
            let out = if i + 1 == m.layers { m.out } else { m.hidden } as usize;
            let l = linear(w, out, m.bias, device);
            w = out;
            l
        })
        .collect()
}

pub fn graph_to_model<B: Backend>(
    g: &ArchGraph,
    device: &B::Device,
) -> Result<(ArchModel<B>, Plan), Unsupported> {
    let data = EdgeFiltered::from_fn(&g.graph, |e| {
        matches!(e.weight().kind, EdgeKind::Data { .. })
    });
    let order = toposort(&data, None).map_err(|_| Unsupported("the graph has a cycle".into()))?;
    if let Some(m) = g.masks.iter().find(|m| m.region != Region::Causal) {
        return Err(Unsupported(format!(
            "mask region `{}` on `{}`",
            m.region.name(),
            m.modality
        )));
    }
    let mut nodes = Vec::new();
    let mut slot = HashMap::new();
    for &n in &order {
        let node = &g.graph[n];
        let mut m = NodeModule::empty();
        match &node.kind {
            NodeKind::Input {
                stem: StemKind::Features { .. },
                ..
            } => {
                return Err(Unsupported(format!("feature inputs (`{}`)", node.path)));
            }
            NodeKind::Merge { stems } if stems.len() > 1 => {
                return Err(Unsupported(format!(
                    "several stems in one sequence (`{}`)",
                    stems.join("`, `")
                )));
            }
            NodeKind::Loop { .. } => return Err(Unsupported(format!("loop `{}`", node.path))),
            NodeKind::Embedding(e) => {
                m.table = Some(Param::from_tensor(Tensor::zeros(
                    [e.vocab as usize, e.dim as usize],
                    device,
                )))
            }
            NodeKind::Positions { max_len, dim } => {
                m.table = Some(Param::from_tensor(Tensor::zeros(
                    [*max_len as usize, *dim as usize],
                    device,
                )))
            }
            NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => {
                m.linears = mlp_stack(*input, mlp, device)
            }
            NodeKind::Block(b) => m.block = Some(Block::new(b, device)),
            NodeKind::Norm(spec) => m.norm = Some(Norm::new(spec, node.width as usize, device)),
            NodeKind::Linear { input, out, bias } => {
                m.linears = vec![linear(*input as usize, *out as usize, *bias, device)]
            }
            NodeKind::Projection {
                input,
                out,
                projection,
            } => match projection {
                Projection::Linear { bias } => {
                    m.linears = vec![linear(*input as usize, *out as usize, *bias, device)]
                }
                Projection::Mlp { hidden, .. } => {
                    m.linears = vec![
                        linear(*input as usize, *hidden as usize, true, device),
                        linear(*hidden as usize, *out as usize, true, device),
                    ]
                }
                Projection::Tied { .. } | Projection::None => {}
            },
            _ => {}
        }
        slot.insert(n, nodes.len());
        nodes.push(m);
    }
    Ok((
        ArchModel { nodes },
        Plan {
            graph: g.clone(),
            order,
            slot,
        },
    ))
}

fn act<B: Backend>(a: Act, x: Tensor<B, 3>) -> Tensor<B, 3> {
    match a {
        Act::Gelu => gelu(x),
        Act::Relu => relu(x),
        Act::Silu => silu(x),
        Act::Tanh => x.tanh(),
    }
}

/// A causal mask: true above the diagonal (a position may not see later ones).
///
/// # Shapes
/// -> `[b, s, s]`
pub fn causal_mask<B: Backend>(b: usize, s: usize, device: &B::Device) -> Tensor<B, 3, Bool> {
    Tensor::<B, 2, Bool>::tril_mask([s, s], 0, device)
        .unsqueeze::<3>()
        .expand([b, s, s])
}

impl<B: Backend> ArchModel<B> {
    /// Runs the model on token ids per stem (`[b, s]` each). Returns each head's
    /// projection output (`[b, s, out]`), by head name.
    pub fn forward(
        &self,
        plan: &Plan,
        ids: &HashMap<String, Tensor<B, 2, Int>>,
    ) -> Result<HashMap<String, Tensor<B, 3>>, Unsupported> {
        let g = &plan.graph;
        let mut values: HashMap<NodeIndex, Tensor<B, 3>> = HashMap::new();
        let mut outputs = HashMap::new();
        for &n in &plan.order {
            let node = &g.graph[n];
            let m = &self.nodes[plan.slot[&n]];
            let input = || -> Result<Tensor<B, 3>, Unsupported> {
                let (src, _) = g
                    .data_inputs(n)
                    .first()
                    .copied()
                    .ok_or_else(|| Unsupported(format!("`{}` has no input", node.path)))?;
                values
                    .get(&src)
                    .cloned()
                    .ok_or_else(|| Unsupported(format!("`{}` runs before its input", node.path)))
            };
            let out = match &node.kind {
                NodeKind::Input { .. } => continue,
                NodeKind::Embedding(_) => {
                    let (src, _) = g.data_inputs(n)[0];
                    let NodeKind::Input { modality, .. } = &g.graph[src].kind else {
                        return Err(Unsupported(format!(
                            "`{}` reads something other than ids",
                            node.path
                        )));
                    };
                    let ids = ids
                        .get(modality)
                        .ok_or_else(|| Unsupported(format!("no input given for `{modality}`")))?;
                    let table = m.table.as_ref().expect("an embedding has a table").val();
                    let [b, s] = ids.dims();
                    let d = table.dims()[1];
                    table
                        .select(0, ids.clone().reshape([b * s]))
                        .reshape([b, s, d]) // [b, s, d]
                }
                NodeKind::Positions { .. } => {
                    let x = input()?;
                    let [b, s, d] = x.dims();
                    let table = m.table.as_ref().expect("positions have a table").val();
                    if s > table.dims()[0] {
                        return Err(Unsupported(format!(
                            "a sequence of {s} is longer than `{}`'s {} positions",
                            node.path,
                            table.dims()[0]
                        )));
                    }
                    x + table.narrow(0, 0, s).unsqueeze::<3>().expand([b, s, d])
                }
                NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
                    let mut x = input()?;
                    for (i, l) in m.linears.iter().enumerate() {
                        x = l.forward(x);
                        if i + 1 < m.linears.len() {
                            x = act(mlp.act, x);
                        }
                    }
                    x
                }
                NodeKind::Merge { .. } | NodeKind::Alias => input()?,
                NodeKind::Block(_) => {
                    let x = input()?;
                    let [b, s, _] = x.dims();
                    let mask = causal_mask::<B>(b, s, &x.device());
                    m.block.as_ref().expect("a block module").forward(x, mask)
                }
                NodeKind::Norm(_) => m.norm.as_ref().expect("a norm module").forward(input()?),
                NodeKind::Linear { .. } => m.linears[0].forward(input()?),
                NodeKind::Projection { projection, .. } => {
                    let x = input()?;
                    let y = match projection {
                        Projection::Tied { .. } => {
                            let emb = g
                                .graph
                                .edges_directed(n, petgraph::Direction::Outgoing)
                                .find(|e| e.weight().kind == EdgeKind::Tied)
                                .map(|e| petgraph::visit::EdgeRef::target(&e))
                                .ok_or_else(|| {
                                    Unsupported(format!("`{}` is tied to nothing", node.path))
                                })?;
                            let table = self.nodes[plan.slot[&emb]]
                                .table
                                .as_ref()
                                .expect("an embedding")
                                .val(); // [vocab, d]
                            x.matmul(table.transpose().unsqueeze::<3>()) // [b, s, vocab]
                        }
                        Projection::Mlp { act: a, .. } => {
                            m.linears[1].forward(act(*a, m.linears[0].forward(x)))
                        }
                        Projection::Linear { .. } => m.linears[0].forward(x),
                        Projection::None => x,
                    };
                    if let Owner::Head(h) = &node.owner {
                        outputs.insert(h.clone(), y.clone());
                    }
                    y
                }
                NodeKind::Objective { .. } => continue,
                NodeKind::Loop { .. } => return Err(Unsupported(format!("loop `{}`", node.path))),
            };
            values.insert(n, out);
        }
        Ok(outputs)
    }

    /// Loads every parameter by its `.arch` name. On error the half-loaded model is
    /// dropped (it is taken by value), so none is ever used.
    pub fn load(self, plan: &Plan, weights: &mut Weights) -> Result<Self, WeightError> {
        let mut model = self;
        for &n in &plan.order {
            let node = &plan.graph.graph[n];
            let m = &mut model.nodes[plan.slot[&n]];
            let path = &node.path;
            if let Some(t) = &mut m.table {
                weights.plain(&format!("{path}.weight"), t)?;
            }
            if let Some(b) = &mut m.block {
                weights.block(path, b)?;
            }
            if let Some(nm) = &mut m.norm {
                weights.norm(path, nm)?;
            }
            let many = m.linears.len() > 1
                || matches!(node.kind, NodeKind::Adapter { .. } | NodeKind::Mlp { .. });
            for (i, l) in m.linears.iter_mut().enumerate() {
                let name = if many {
                    format!("{path}.{i}")
                } else {
                    path.clone()
                };
                weights.linear(&name, l)?;
            }
        }
        Ok(model)
    }
}
