//! Training: one optimizer step at a time (docs/training.md). A step draws `accum`
//! micro-batches from the data source, draws the mask rates, masked rows and recurrence
//! passes, runs forward and backward, sums the gradients, clips them, and takes one AdamW
//! update at the scheduled learning rate. Everything random comes from two [`Rng`]s whose
//! states a checkpoint stores, so a resumed run continues exactly.

use crate::batch::Batch;
use crate::data::{DataError, HostBatch, Source};
use crate::draws::{draw_for_training, Drawn};
use crate::model::{ArchModel, Plan, Unsupported};
use crate::objectives::{check_trainable, head_losses};
use crate::optim::{scheduled_lr, AdamW, AdamWConfig, Grads};
use crate::params::Named;
use crate::rng::Rng;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use std::collections::BTreeMap;

/// The optimisation settings (docs/training.md gives the defaults and their sources).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The schedule's length in optimizer steps: warmup, then cosine down to `min_lr` at
    /// step `horizon`, and `min_lr` after it (a run resumed past its horizon trains there).
    pub horizon: u64,
    /// Micro-batches per step (gradient accumulation).
    pub accum: usize,
    pub adamw: AdamWConfig,
    /// The learning rate the cosine ends at.
    pub min_lr: f64,
    pub warmup: u64,
    /// Global gradient-norm clip; 0 for none.
    pub clip: f64,
}

/// What one step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    pub step: u64,
    /// Per head: its loss (before its weight), averaged over the micro-batches.
    pub losses: BTreeMap<String, f64>,
    /// The weighted sum the gradients are of.
    pub total: f64,
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    /// Positions processed (all micro-batches).
    pub tokens: usize,
    /// The last micro-batch's draws.
    pub drawn: Drawn,
    /// Passes each loop made in the last micro-batch.
    pub loop_steps: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    Data(DataError),
    Model(Unsupported),
    /// A head's loss, or the gradient norm (`head` None), is NaN or infinite.
    NonFinite {
        step: u64,
        head: Option<String>,
        value: f64,
    },
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Data(e) => write!(f, "{e}"),
            TrainError::Model(e) => write!(f, "{e}"),
            TrainError::NonFinite {
                step,
                head: Some(h),
                value,
            } => write!(f, "step {step}: the loss of head `{h}` is {value}"),
            TrainError::NonFinite {
                step,
                head: None,
                value,
            } => write!(f, "step {step}: the gradient norm is {value}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        TrainError::Data(e)
    }
}

impl From<Unsupported> for TrainError {
    fn from(e: Unsupported) -> Self {
        TrainError::Model(e)
    }
}

/// The generator streams of a run, derived from its seed.
pub const DATA_STREAM: u64 = 0xDA7A;
pub const DRAW_STREAM: u64 = 0xD4A3;

pub struct Trainer<A: AutodiffBackend> {
    pub model: ArchModel<A>,
    pub plan: Plan,
    pub opt: AdamW<A::InnerBackend>,
    pub config: TrainConfig,
    /// Steps taken.
    pub step: u64,
    /// Mask rates, masked rows, recurrence passes, diffusion noise.
    pub draws: Rng,
    /// What the data source draws.
    pub data_rng: Rng,
    pub device: A::Device,
}

impl<A: AutodiffBackend> Trainer<A> {
    /// A trainer at step 0. Refuses a model with an objective no data can train.
    pub fn new(
        model: ArchModel<A>,
        plan: Plan,
        config: TrainConfig,
        seed: u64,
        device: A::Device,
    ) -> Result<Self, Unsupported> {
        check_trainable(&plan)?;
        Ok(Trainer {
            model,
            plan,
            opt: AdamW::new(config.adamw.clone()),
            config,
            step: 0,
            draws: Rng::new(seed ^ DRAW_STREAM),
            data_rng: Rng::new(seed ^ DATA_STREAM),
            device,
        })
    }

    /// The learning rate of step `step` (counting from 1).
    pub fn lr_at(&self, step: u64) -> f64 {
        let c = &self.config;
        scheduled_lr(step, c.adamw.lr, c.min_lr, c.warmup, c.horizon)
    }

    /// One optimizer step. On error the model and optimizer are as before the step.
    pub fn step(&mut self, source: &mut dyn Source) -> Result<StepReport, TrainError> {
        let next = self.step + 1;
        let lr = self.lr_at(next);
        let accum = self.config.accum.max(1);
        let mut grads = Grads::default();
        let mut losses: BTreeMap<String, f64> = BTreeMap::new();
        let (mut total, mut tokens) = (0.0, 0);
        let mut drawn = Drawn::default();
        let mut loop_steps = BTreeMap::new();
        for _ in 0..accum {
            let host = source.next_batch(&mut self.data_rng)?;
            tokens += host.tokens();
            let mut batch = to_batch::<A>(&host, &self.device);
            drawn = draw_for_training(&self.plan, &mut batch, &mut self.draws);
            let out = self.model.forward_batch(&self.plan, &batch)?;
            loop_steps = out
                .loop_steps
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            let heads = head_losses(&self.model, &self.plan, &out, &batch, &mut self.draws)?;
            let mut sum: Option<Tensor<A, 1>> = None;
            for h in heads {
                let v: f64 = h.loss.clone().into_scalar().elem();
                if !v.is_finite() {
                    return Err(TrainError::NonFinite {
                        step: next,
                        head: Some(h.head),
                        value: v,
                    });
                }
                *losses.entry(h.head.clone()).or_default() += v / accum as f64;
                total += h.weight * v / accum as f64;
                let weighted = h.loss.mul_scalar(h.weight);
                sum = Some(match sum {
                    Some(s) => s + weighted,
                    None => weighted,
                });
            }
            if let Some(sum) = sum {
                let g = sum.backward();
                let named = Named {
                    model: self.model.clone(),
                    plan: &self.plan,
                };
                grads.accumulate(&named, &g, 1.0 / accum as f64);
            }
        }
        let grad_norm = if self.config.clip > 0.0 {
            grads.clip(self.config.clip)
        } else {
            grads.norm()
        };
        if !grad_norm.is_finite() {
            return Err(TrainError::NonFinite {
                step: next,
                head: None,
                value: grad_norm,
            });
        }
        let named = Named {
            model: self.model.clone(),
            plan: &self.plan,
        };
        self.model = self.opt.step(named, &grads, lr).model;
        self.step = next;
        Ok(StepReport {
            step: next,
            losses,
            total,
            lr,
            grad_norm,
            tokens,
            drawn,
            loop_steps,
        })
    }
}

/// A host batch as tensors on `device`.
pub fn to_batch<A: burn::tensor::backend::Backend>(
    host: &HostBatch,
    device: &A::Device,
) -> Batch<A> {
    let mut batch = Batch::new(host.layout.clone());
    let b = host.batch;
    for (stem, ids) in &host.ids {
        let n = ids.len().checked_div(b).unwrap_or(0);
        batch.ids.insert(
            stem.clone(),
            Tensor::<A, 2, Int>::from_data(TensorData::new(ids.clone(), [b, n]), device),
        );
    }
    for (stem, rows) in &host.features {
        let d = host.dims.get(stem).copied().unwrap_or(1).max(1);
        let n = rows.len().checked_div(b * d).unwrap_or(0);
        batch.features.insert(
            stem.clone(),
            Tensor::<A, 3>::from_data(TensorData::new(rows.clone(), [b, n, d]), device),
        );
    }
    batch
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
