//! The model's trained heads, read off the plan; their losses are `archc_nn::objectives`'
//! (docs/semantics.md, "Objectives").

use crate::batch::Batch;
use crate::forward::Output;
use crate::model::{ArchModel, Plan, Unsupported};
use crate::rng::Rng;
use archc::graph::{NodeKind, Owner};
use archc::model::Objective;
pub use archc_nn::objectives::HeadLoss;
use archc_nn::objectives::{self as nn};
use burn::tensor::backend::Backend;

/// The heads that train, with their objective and target, in graph order.
pub fn trained_heads(plan: &Plan) -> Vec<(String, Objective, Option<String>)> {
    plan.order
        .iter()
        .filter_map(
            |&n| match (&plan.graph.graph[n].kind, &plan.graph.graph[n].owner) {
                (NodeKind::Objective { target, objective }, Owner::Head(h)) => {
                    Some((h.clone(), objective.clone(), target.clone()))
                }
                _ => None,
            },
        )
        .collect()
}

/// Every head's loss. A head whose stream is too short to predict anything this batch
/// (one position, or no masked row) is left out.
pub fn head_losses<B: Backend>(
    model: &ArchModel<B>,
    plan: &Plan,
    out: &Output<B>,
    batch: &Batch<B>,
    rng: &mut Rng,
) -> Result<Vec<HeadLoss<B>>, Unsupported> {
    let diffusion = |head: &str| {
        let n = plan.objective_of(head)?;
        model.nodes[plan.slot[&n]].diffusion.as_ref()
    };
    nn::head_losses(&plan.heads, &out.heads, batch, diffusion, rng).map_err(Unsupported)
}
