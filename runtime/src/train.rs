//! Training the interpreted model: `archc_nn::train`'s [`Trainer`] over a [`Planned`]
//! model (docs/training.md), and what the data must give a checked graph.

use crate::batch::Batch;
use crate::diffusion::DiffusionMlp;
use crate::model::{ArchModel, Plan, Unsupported};
use crate::params::{visit_params, ParamVisitor, Parameters};
use archc_nn::draws::DrawSpec;
use archc_nn::objectives::HeadSpec;
pub use archc_nn::train::{
    kept, load_weights, save_weights, Output, Run, StepReport, TrainConfig, TrainModel,
    DATA_STREAM, DRAW_STREAM,
};
use burn::tensor::backend::{AutodiffBackend, Backend};
use std::sync::Arc;

/// The runtime's trainer.
pub type Trainer<A> = archc_nn::train::Trainer<A, Planned<A>>;
/// Why a step of it failed.
pub type TrainError = archc_nn::train::TrainError<Unsupported>;

/// A model with the plan that runs and names it: what the trainer trains.
#[derive(Clone, Debug)]
pub struct Planned<B: Backend> {
    pub model: ArchModel<B>,
    pub plan: Arc<Plan>,
}

impl<B: Backend> Parameters<B> for Planned<B> {
    fn visit_params<V: ParamVisitor<B>>(&mut self, v: &mut V) -> Result<(), V::Error> {
        visit_params(&mut self.model, &self.plan, v)
    }
}

impl<B: Backend> TrainModel<B> for Planned<B> {
    type Error = Unsupported;

    fn heads(&self) -> Vec<HeadSpec> {
        self.plan.heads.clone()
    }

    fn draws(&self) -> DrawSpec {
        self.plan.draws.clone()
    }

    fn loops(&self) -> Vec<String> {
        let g = &self.plan.graph;
        self.plan
            .loops
            .iter()
            .map(|l| g.graph[l.node].path.clone())
            .collect()
    }

    fn output(&self, batch: &Batch<B>) -> Result<Output<B>, Unsupported> {
        self.model.forward_batch(&self.plan, batch)
    }

    fn diffusion_of(&self, head: &str) -> Option<&DiffusionMlp<B>> {
        let n = self.plan.objective_of(head)?;
        self.model.nodes[self.plan.slot[&n]].diffusion.as_ref()
    }
}

/// A trainer at step 0 for `model` run by `plan`. Refuses a model with an objective no
/// data can train.
pub fn trainer<A: AutodiffBackend>(
    model: ArchModel<A>,
    plan: Plan,
    config: TrainConfig,
    seed: u64,
    device: A::Device,
) -> Result<Trainer<A>, Unsupported> {
    let model = Planned {
        model,
        plan: Arc::new(plan),
    };
    Trainer::new(model, config, seed, device)
}

/// What the data must give this model: its stems in the trunk's order (stems the trunk
/// does not read follow, in graph order).
pub fn data_spec(
    g: &archc::graph::ArchGraph,
    batch: usize,
    text_len: Option<usize>,
) -> crate::data::DataSpec {
    use crate::data::{StemData, StemInfo};
    use archc::model::StemKind;
    let stems = g
        .stems_in_order()
        .into_iter()
        .map(|(modality, stem)| StemInfo {
            name: modality.to_string(),
            data: match stem {
                StemKind::Tokens { vocab, max_len } => StemData::Tokens {
                    vocab: *vocab,
                    max_len: *max_len,
                },
                StemKind::Codes { codebook, rows } => StemData::Codes {
                    codebook: *codebook,
                    rows: *rows,
                },
                StemKind::Features { dim, rows, .. } => StemData::Features {
                    dim: *dim,
                    rows: *rows,
                },
            },
        })
        .collect();
    crate::data::DataSpec {
        stems,
        batch,
        text_len,
    }
}
