//! Training, one optimizer step at a time (archc's docs/training.md). A step draws `accum`
//! micro-batches from the data source, draws the mask rates, masked rows and recurrence
//! passes, runs forward and backward, sums the gradients, clips them, and takes one AdamW
//! update at the scheduled learning rate. Everything random comes from two [`Rng`]s whose
//! states a checkpoint stores, so a resumed run continues exactly — in `archc train` and
//! in a crate `archc gen rust` wrote alike, since both train through this [`Trainer`].

use crate::batch::Batch;
use crate::checkpoint::{self, CheckpointError, Loaded, State};
use crate::data::{DataError, Source};
use crate::diffusion::DiffusionMlp;
use crate::draws::{draw_for_training, DrawSpec, Drawn};
use crate::objectives::{check_trainable, head_losses, HeadSpec};
use crate::optim::{scheduled_lr, AdamW, AdamWConfig, Grads};
use crate::params::Parameters;
use crate::rng::Rng;
use crate::weights::{Saver, WeightError, Weights};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What one forward pass produced.
pub struct Output<B: Backend> {
    /// Each head's output over its positions, `[b, n, out]`.
    pub heads: HashMap<String, Tensor<B, 3>>,
    /// Per loop: the passes it made.
    pub loop_steps: HashMap<String, usize>,
}

/// A model the [`Trainer`] can train: its parameters by `.arch` name, what it trains and
/// draws, and its forward pass. The runtime's interpreted model and a generated crate's
/// `Model` both are one.
pub trait TrainModel<B: Backend>: Parameters<B> {
    /// Why a forward pass or a loss failed.
    type Error: From<String> + std::fmt::Display;
    /// The trained heads, in the checked graph's order.
    fn heads(&self) -> Vec<HeadSpec>;
    /// What a training step draws.
    fn draws(&self) -> DrawSpec;
    /// Each loop's path, in the checked graph's order.
    fn loops(&self) -> Vec<String>;
    /// The forward pass over a batch (its masked rows and passes drawn).
    fn output(&self, batch: &Batch<B>) -> Result<Output<B>, Self::Error>;
    /// A diffusion head's MLP.
    fn diffusion_of(&self, head: &str) -> Option<&DiffusionMlp<B>>;
}

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
pub enum TrainError<E> {
    Data(DataError),
    Model(E),
    /// A head's loss, or the gradient norm (`head` None), is NaN or infinite.
    NonFinite {
        step: u64,
        head: Option<String>,
        value: f64,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for TrainError<E> {
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

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for TrainError<E> {}

impl<E> From<DataError> for TrainError<E> {
    fn from(e: DataError) -> Self {
        TrainError::Data(e)
    }
}

/// The generator streams of a run, derived from its seed.
pub const DATA_STREAM: u64 = 0xDA7A;
pub const DRAW_STREAM: u64 = 0xD4A3;

pub struct Trainer<A: AutodiffBackend, M> {
    pub model: M,
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

impl<A: AutodiffBackend, M: TrainModel<A>> Trainer<A, M> {
    /// A trainer at step 0. Refuses a model with an objective no data can train.
    pub fn new(
        model: M,
        config: TrainConfig,
        seed: u64,
        device: A::Device,
    ) -> Result<Self, M::Error> {
        check_trainable(&model.heads())?;
        Ok(Trainer {
            model,
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
    pub fn step(&mut self, source: &mut dyn Source) -> Result<StepReport, TrainError<M::Error>> {
        let next = self.step + 1;
        let lr = self.lr_at(next);
        let accum = self.config.accum.max(1);
        let (heads, draws) = (self.model.heads(), self.model.draws());
        let mut grads = Grads::default();
        let mut r = StepReport {
            step: next,
            losses: BTreeMap::new(),
            total: 0.0,
            lr,
            grad_norm: 0.0,
            tokens: 0,
            drawn: Drawn::default(),
            loop_steps: BTreeMap::new(),
        };
        for _ in 0..accum {
            let host = source.next_batch(&mut self.data_rng)?;
            r.tokens += host.tokens();
            let mut batch = Batch::<A>::from_host(&host, &self.device);
            r.drawn = draw_for_training(&draws, &mut batch, &mut self.draws);
            let out = self.model.output(&batch).map_err(TrainError::Model)?;
            r.loop_steps = out
                .loop_steps
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            let model = &self.model;
            let losses = head_losses(
                &heads,
                &out.heads,
                &batch,
                |h| model.diffusion_of(h),
                &mut self.draws,
            )
            .map_err(|e| TrainError::Model(e.into()))?;
            let mut sum: Option<Tensor<A, 1>> = None;
            for h in losses {
                let v: f64 = h.loss.clone().into_scalar().elem();
                if !v.is_finite() {
                    return Err(TrainError::NonFinite {
                        step: next,
                        head: Some(h.head),
                        value: v,
                    });
                }
                *r.losses.entry(h.head.clone()).or_default() += v / accum as f64;
                r.total += h.weight * v / accum as f64;
                let weighted = h.loss.mul_scalar(h.weight);
                sum = Some(match sum {
                    Some(s) => s + weighted,
                    None => weighted,
                });
            }
            if let Some(sum) = sum {
                let g = sum.backward();
                grads.accumulate(&self.model, &g, 1.0 / accum as f64);
            }
        }
        r.grad_norm = if self.config.clip > 0.0 {
            grads.clip(self.config.clip)
        } else {
            grads.norm()
        };
        if !r.grad_norm.is_finite() {
            return Err(TrainError::NonFinite {
                step: next,
                head: None,
                value: r.grad_norm,
            });
        }
        self.model = self.opt.step(self.model.clone(), &grads, lr);
        self.step = next;
        Ok(r)
    }

    /// Continues the run a checkpoint stores: its weights, optimizer state, step and both
    /// generators. Err names the checkpoint and what of it does not fit this model; the
    /// trainer is then as before.
    pub fn resume(&mut self, c: &Loaded) -> Result<(), String> {
        let at = c.path.display();
        let mut model = self.model.clone();
        load_weights(&mut model, &c.model).map_err(|e| format!("{at}: {e}"))?;
        let opt = AdamW::load(
            self.config.adamw.clone(),
            c.state.adam_t,
            &model,
            &c.optimizer,
            &self.device,
        )
        .map_err(|e| format!("{at}: optimizer state: {e}"))?;
        (self.model, self.opt) = (model, opt);
        self.step = c.state.step;
        self.draws = Rng::from_state(c.state.draws_rng);
        self.data_rng = Rng::from_state(c.state.data_rng);
        Ok(())
    }

    /// Writes a checkpoint of the run at its current step into `dir` (keeping the newest
    /// `keep`): `run` says which run it is (model, IR, seed, data, settings).
    pub fn checkpoint(
        &self,
        dir: &Path,
        run: &Run,
        keep: usize,
    ) -> Result<PathBuf, CheckpointError> {
        let state = State {
            format: checkpoint::FORMAT,
            model: run.model.clone(),
            ir_sha256: run.ir_sha256.clone(),
            step: self.step,
            adam_t: self.opt.t,
            seed: run.seed,
            draws_rng: self.draws.state(),
            data_rng: self.data_rng.state(),
            data: run.data.clone(),
            settings: run.settings.clone(),
            files: BTreeMap::new(),
            checksum: String::new(),
        };
        checkpoint::write(
            dir,
            state,
            &save_weights(&self.model),
            &self.opt.save(),
            keep,
        )
    }
}

/// What a checkpoint records of the run beside the step's state.
#[derive(Clone, Debug)]
pub struct Run {
    pub model: String,
    pub ir_sha256: String,
    pub seed: u64,
    /// The `--data` argument.
    pub data: String,
    /// The settings, as `Settings::to_map` gives them.
    pub settings: BTreeMap<String, String>,
}

/// The weights as safetensors bytes, by `.arch` name.
pub fn save_weights<B: Backend, M: Parameters<B>>(model: &M) -> Vec<u8> {
    let mut saver = Saver::default();
    let Ok(()) = model.clone().visit_params(&mut saver);
    saver.to_bytes()
}

/// Every parameter from safetensors bytes by `.arch` name; a missing, misshapen or extra
/// tensor is an error (and the model may then be half loaded: drop it).
pub fn load_weights<B: Backend, M: Parameters<B>>(
    model: &mut M,
    bytes: &[u8],
) -> Result<(), WeightError> {
    let mut w = Weights::from_bytes(bytes)?;
    model.visit_params(&mut w)?;
    w.finish()
}

/// Where a stopped run stands: "the last good checkpoint is `P` (step S)".
pub fn kept(last: &Option<(u64, PathBuf)>) -> String {
    match last {
        Some((s, p)) => format!("the last good checkpoint is `{}` (step {s})", p.display()),
        None => "no checkpoint was written before it".to_string(),
    }
}
