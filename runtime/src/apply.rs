//! What one node computes, shared by the full forward pass (`forward.rs`) and the cached
//! decoder (`decode.rs`). Each pass says how a node's input is read, where a domain's rows
//! start and how a block attends; the per-node match is written once, here.

use crate::batch::Batch;
use crate::lower;
use crate::model::{ArchModel, Plan, Unsupported};
use archc::graph::{NodeKind, Owner};
use archc::model::{Projection, StemKind};
use archc_nn::layers::{act, add_positions_from, embed, mask_rows, stack, tied, Block};
use archc_nn::next_scale::next_scale_input;
use burn::tensor::{backend::Backend, Tensor};
use petgraph::stable_graph::NodeIndex;
use std::collections::HashMap;

/// A pass over some positions of a batch.
pub(crate) trait Pass<'a, B: Backend> {
    fn plan(&self) -> &'a Plan;
    fn model(&self) -> &'a ArchModel<B>;
    /// The batch whose positions are computed (when decoding: the new ones).
    fn batch(&self) -> &Batch<B>;
    /// Whether a stem or domain may have no positions in this pass (decoding one stem's
    /// tokens): its nodes are then skipped, where a full pass calls a missing input an
    /// error.
    fn partial(&self) -> bool;
    /// `n`'s input over the positions of its domain; `None` when the domain has none in
    /// this pass.
    fn input(&self, n: NodeIndex) -> Result<Option<Tensor<B, 3>>, Unsupported>;
    /// Where the rows computed in domain `rows` start among its positions (0 for a full
    /// pass).
    fn start(&self, rows: &str) -> usize;
    /// Block `n` over `x`: attending over the domain's mask, or over its cache.
    fn block(
        &mut self,
        n: NodeIndex,
        block: &Block<B>,
        x: Tensor<B, 3>,
    ) -> Result<Tensor<B, 3>, Unsupported>;
    /// The trunk's input: each stem's rows at its segments' positions.
    fn merge(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported>;
    /// Each head's output so far.
    fn heads(&mut self) -> &mut HashMap<String, Tensor<B, 3>>;
}

/// The node `n` reads its value from (its first data input).
pub(crate) fn source(plan: &Plan, n: NodeIndex) -> Result<NodeIndex, Unsupported> {
    let g = &plan.graph;
    g.data_inputs(n)
        .first()
        .map(|(src, _)| *src)
        .ok_or_else(|| Unsupported(format!("`{}` has no input", g.graph[n].path)))
}

/// Node `n`'s value over the positions of its domain, or `None` when it has none in this
/// pass (an input of ids, a loop, an objective, a domain with no positions).
pub(crate) fn apply<'a, B: Backend>(
    p: &mut impl Pass<'a, B>,
    n: NodeIndex,
) -> Result<Option<Tensor<B, 3>>, Unsupported> {
    let (plan, model) = (p.plan(), p.model());
    let g = &plan.graph;
    let node = &g.graph[n];
    let m = &model.nodes[plan.slot[&n]];
    let partial = p.partial();
    let missing = |what: String| {
        if partial {
            Ok(None)
        } else {
            Err(Unsupported(what))
        }
    };
    // The node's input, or no value when its domain has no positions in this pass.
    macro_rules! input {
        () => {
            match p.input(n)? {
                Some(x) => x,
                None => return Ok(None),
            }
        };
    }
    let out = match &node.kind {
        NodeKind::Input { modality, stem } => match stem {
            StemKind::Features { .. } => match p.batch().features.get(modality) {
                Some(f) => f.clone(),
                None => return missing(format!("no features given for `{modality}`")),
            },
            _ => return Ok(None),
        },
        NodeKind::Embedding(_) => {
            let (src, _) = g.data_inputs(n)[0];
            let NodeKind::Input { modality, .. } = &g.graph[src].kind else {
                return Err(Unsupported(format!(
                    "`{}` reads something other than ids",
                    node.path
                )));
            };
            let Some(ids) = p.batch().ids.get(modality) else {
                return missing(format!("no ids given for `{modality}`"));
            };
            let table = m.table.as_ref().expect("an embedding has a table");
            let x = embed(table, ids.clone()); // [b, s, d]
            match (&m.start, g.next_scale_sides(modality)) {
                (Some(start), Some(sides)) => {
                    next_scale_input(x, start.val(), &sides).map_err(Unsupported)?
                }
                _ => x,
            }
        }
        NodeKind::Merge { .. } => p.merge(n)?,
        NodeKind::Loop { .. } => return Ok(None),
        NodeKind::Objective { .. } => {
            // A diffusion head's objective reads its latent: its "output" is that latent.
            if let Owner::Head(h) = &node.owner {
                if !p.heads().contains_key(h) {
                    if let Some(x) = p.input(n)? {
                        p.heads().insert(h.clone(), x);
                    }
                }
            }
            return Ok(None);
        }
        NodeKind::Positions { .. } => {
            let table = m.table.as_ref().expect("positions have a table");
            add_positions_from(input!(), table, p.start(&node.rows))
                .map_err(|e| Unsupported(format!("`{}`: {e}", node.path)))?
        }
        NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
            stack(&m.linears, lower::act(mlp.act), input!())
        }
        NodeKind::Alias => input!(),
        NodeKind::Block(_) => {
            let x = input!();
            p.block(n, m.block.as_ref().expect("a block module"), x)?
        }
        NodeKind::Norm(_) => m.norm.as_ref().expect("a norm module").forward(input!()),
        NodeKind::Linear { .. } => m.linears[0].forward(input!()),
        NodeKind::Projection { projection, .. } => {
            let x = input!();
            let y = match projection {
                Projection::Tied { .. } => {
                    let emb = g.tied_embedding(n).ok_or_else(|| {
                        Unsupported(format!("`{}` is tied to nothing", node.path))
                    })?;
                    let table = model.nodes[plan.slot[&emb]]
                        .table
                        .as_ref()
                        .expect("an embedding"); // [vocab, d]
                    tied(x, table) // [b, n, vocab]
                }
                Projection::Mlp { act: a, .. } => {
                    m.linears[1].forward(act(lower::act(*a), m.linears[0].forward(x)))
                }
                Projection::Linear { .. } => m.linears[0].forward(x),
                Projection::None => x,
            };
            if let Owner::Head(h) = &node.owner {
                p.heads().insert(h.clone(), y.clone());
            }
            y
        }
    };
    // Masked rows of a `mask_tokens` modality: replaced by its learned token.
    let out = match (plan.mask_points.get(&n), &m.mask_token) {
        (Some(modality), Some(token)) => match p.batch().masked.get(modality) {
            Some(mask) => mask_rows(out, token, mask.clone()),
            None => out,
        },
        _ => out,
    };
    Ok(Some(out))
}
