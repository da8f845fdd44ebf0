//! `graph_to_model`: one burn module per graph node (parameters named by `.arch` paths),
//! and the [`Plan`] that says how to run them: topological order, loops, mask points.
//! What each node computes is in docs/semantics.md; the pass itself is in forward.rs.

use crate::batch::Batch;
use crate::lower;
use crate::params::visit_params;
use crate::weights::{Saver, WeightError, Weights};
use archc::analyze::token_dim;
pub use archc::graph::LoopPlan;
use archc::graph::{graph_to_plan, ArchGraph, NodeKind};
use archc::model::{Inject, Objective, ObjectiveKind, Projection};
use archc_nn::diffusion::DiffusionMlp;
pub use archc_nn::layers::causal_mask;
use archc_nn::layers::{linear, stack_linears, Block, Norm};
use archc_nn::rng::Rng;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Int, Tensor};
use petgraph::stable_graph::NodeIndex;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the runtime cannot run this model yet: {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

impl From<String> for Unsupported {
    fn from(e: String) -> Self {
        Unsupported(e)
    }
}

/// The parameters of one graph node (most fields empty for any one node).
#[derive(Module, Debug)]
pub struct NodeModule<B: Backend> {
    pub table: Option<Param<Tensor<B, 2>>>,
    pub block: Option<Block<B>>,
    pub norm: Option<Norm<B>>,
    pub linears: Vec<Linear<B>>,
    /// `{stem}.mask_token`: replaces masked rows of a `mask_tokens` modality.
    pub mask_token: Option<Param<Tensor<B, 1>>>,
    /// A `diffusion` objective's MLP.
    pub diffusion: Option<DiffusionMlp<B>>,
    /// `{stem}.embed.start`: what a `next_scale` embedding feeds its first scale.
    pub start: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> NodeModule<B> {
    /// Whether it holds no parameters at all.
    fn is_empty(&self) -> bool {
        self.table.is_none()
            && self.block.is_none()
            && self.norm.is_none()
            && self.linears.is_empty()
            && self.mask_token.is_none()
            && self.diffusion.is_none()
            && self.start.is_none()
    }

    fn empty() -> Self {
        NodeModule {
            table: None,
            block: None,
            norm: None,
            linears: Vec::new(),
            mask_token: None,
            diffusion: None,
            start: None,
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
    pub loops: Vec<LoopPlan>,
    /// Nodes whose output rows a batch may mask (the last layer of a `mask_tokens`
    /// modality's stem before its own blocks), with that modality.
    pub mask_points: HashMap<NodeIndex, String>,
    /// The attention regions beyond causal, by modality.
    pub regions: Vec<(String, archc_nn::batch::Region)>,
    /// The trained heads, in plan order, and each one's objective node.
    pub heads: Vec<archc_nn::objectives::HeadSpec>,
    /// What a training step draws.
    pub draws: archc_nn::draws::DrawSpec,
    objectives: HashMap<String, NodeIndex>,
}

impl Plan {
    /// A head's objective node.
    pub fn objective_of(&self, head: &str) -> Option<NodeIndex> {
        self.objectives.get(head).copied()
    }
}

/// The model with parameters from seed 0 (see [`graph_to_model_seeded`]).
pub fn graph_to_model<B: Backend>(
    g: &ArchGraph,
    device: &B::Device,
) -> Result<(ArchModel<B>, Plan), Unsupported> {
    graph_to_model_seeded(g, device, 0)
}

/// One module per graph node, parameters drawn from `seed` by the runtime's own generator:
/// linear maps U(-1/sqrt(in), 1/sqrt(in)), embeddings and learned positions N(0, 0.02²)
/// (GPT-2, nanoGPT: an N(0, 1) table tied to the output gives logits of std ~√d and a
/// first loss far above ln(vocab)), norms ones and zeros.
pub fn graph_to_model_seeded<B: Backend>(
    g: &ArchGraph,
    device: &B::Device,
    seed: u64,
) -> Result<(ArchModel<B>, Plan), Unsupported> {
    let mut init = Rng::new(seed);
    let init = &mut init;
    let exec = graph_to_plan(g).ok_or_else(|| Unsupported("the graph has a cycle".into()))?;
    let order = exec.order;
    // Nodes without parameters (inputs, merges, aliases, objectives ...) share one empty
    // module in slot 0: a `NodeModule` is ~13.6 KB even when empty (its optional block is
    // held inline), and a file may hold 100,000 aliases.
    let mut nodes = vec![NodeModule::empty()];
    let mut slot = HashMap::new();
    let masked: HashSet<NodeIndex> = exec.mask_points.iter().map(|(p, _)| *p).collect();
    for &n in &order {
        let node = &g.graph[n];
        let mut m = NodeModule::empty();
        match &node.kind {
            NodeKind::Loop {
                inject: Inject::ConcatLinear,
                width,
                ..
            } => {
                m.linears = vec![linear(
                    init,
                    2 * *width as usize,
                    *width as usize,
                    false,
                    device,
                )];
            }
            NodeKind::Embedding(e) => {
                m.table = Some(init.normal_param([e.vocab as usize, e.dim as usize], 0.02, device));
                if e.next_scale {
                    m.start = Some(init.normal_param([e.dim as usize], 0.02, device));
                }
            }
            NodeKind::Positions { max_len, dim } => {
                m.table = Some(init.normal_param([*max_len as usize, *dim as usize], 0.02, device))
            }
            NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => {
                m.linears = stack_linears(init, &lower::stack(*input, mlp), device)
            }
            NodeKind::Block(b) => m.block = Some(Block::new(init, lower::block(b), device)),
            NodeKind::Norm(spec) => {
                m.norm = Some(Norm::new(lower::norm(spec), node.width as usize, device))
            }
            NodeKind::Linear { input, out, bias } => {
                m.linears = vec![linear(init, *input as usize, *out as usize, *bias, device)]
            }
            NodeKind::Projection {
                input,
                out,
                projection,
            } => match projection {
                Projection::Linear { bias } => {
                    m.linears = vec![linear(init, *input as usize, *out as usize, *bias, device)]
                }
                Projection::Mlp { hidden, .. } => {
                    m.linears = vec![
                        linear(init, *input as usize, *hidden as usize, true, device),
                        linear(init, *hidden as usize, *out as usize, true, device),
                    ]
                }
                Projection::Tied { .. } | Projection::None => {}
            },
            NodeKind::Objective {
                target,
                objective:
                    Objective {
                        kind:
                            ObjectiveKind::Diffusion {
                                layers,
                                width,
                                steps,
                            },
                        ..
                    },
            } => {
                let z = g
                    .data_inputs(n)
                    .first()
                    .map_or(0, |(s, _)| g.graph[*s].width);
                m.diffusion = Some(DiffusionMlp::new(
                    init,
                    token_dim(g, target.as_deref()) as usize,
                    z as usize,
                    *width as usize,
                    *layers as usize,
                    *steps as usize,
                    device,
                ));
            }
            _ => {}
        }
        if m.is_empty() && !masked.contains(&n) {
            slot.insert(n, 0);
        } else {
            slot.insert(n, nodes.len());
            nodes.push(m);
        }
    }
    let loops = exec.loops;
    // Mask tokens: on the last layer of the stem before its blocks.
    let mut mask_points = HashMap::new();
    for (p, modality) in exec.mask_points {
        nodes[slot[&p]].mask_token =
            Some(init.normal_param([g.graph[p].width as usize], 0.02, device));
        mask_points.insert(p, modality);
    }
    let heads = lower::heads(g, &order);
    Ok((
        ArchModel { nodes },
        Plan {
            draws: lower::draws(g, &loops),
            regions: lower::regions(g),
            objectives: heads.iter().map(|(h, n)| (h.head.clone(), *n)).collect(),
            heads: heads.into_iter().map(|(h, _)| h).collect(),
            graph: g.clone(),
            order,
            slot,
            loops,
            mask_points,
        },
    ))
}

impl<B: Backend> ArchModel<B> {
    /// Runs the model on token ids per stem (`[b, s]` each), laid out one segment per
    /// stem in the trunk's `from` order. Returns each head's projection output
    /// (`[b, n, out]` over its modality's positions), by head name.
    pub fn forward(
        &self,
        plan: &Plan,
        ids: &HashMap<String, Tensor<B, 2, Int>>,
    ) -> Result<HashMap<String, Tensor<B, 3>>, Unsupported> {
        let g = &plan.graph;
        let mut layout = Vec::new();
        let merge = g.graph.node_weights().find_map(|n| match &n.kind {
            NodeKind::Merge { stems } => Some(stems.clone()),
            _ => None,
        });
        for stem in merge.unwrap_or_else(|| ids.keys().cloned().collect()) {
            if let Some(t) = ids.get(&stem) {
                layout.push((stem, t.dims()[1]));
            }
        }
        let batch = Batch {
            layout,
            ids: ids.clone(),
            features: HashMap::new(),
            masked: HashMap::new(),
            steps: HashMap::new(),
        };
        self.forward_batch(plan, &batch).map(|o| o.heads)
    }

    /// Every parameter as a safetensors file, named by `.arch` paths (docs/runtime.md).
    pub fn save(&self, plan: &Plan) -> Vec<u8> {
        let mut out = Saver::default();
        let mut model = self.clone();
        let Ok(()) = visit_params(&mut model, plan, &mut out);
        out.to_bytes()
    }

    /// Loads every parameter by its `.arch` name. On error the half-loaded model is
    /// dropped (it is taken by value), so none is ever used.
    pub fn load(self, plan: &Plan, weights: &mut Weights) -> Result<Self, WeightError> {
        let mut model = self;
        visit_params(&mut model, plan, weights)?;
        Ok(model)
    }
}
