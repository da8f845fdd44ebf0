//! What a training step draws at random (archc's docs/semantics.md, "Training draws"): for
//! each `mask_tokens` modality a rate and the rows it masks, and for each `sampled` loop
//! its number of passes. Inference draws nothing: nothing is masked and a sampled loop
//! runs its mean. All draws come from archc's [`Rng`], so a checkpointed run resumes them.

use crate::batch::Batch;
use crate::rng::Rng;
use burn::tensor::{backend::Backend, Bool, Tensor, TensorData};
use std::collections::BTreeMap;

/// Huginn's spread of the log-normal rate: σ = 1/2 (Geiping et al. 2025, "Scaling up
/// Test-Time Compute with Latent Reasoning", §3.3).
pub const RECURRENCE_SIGMA: f64 = 0.5;

/// A `mask_tokens(rate = min_rate .. max_rate)` modality, and the share of each batch an
/// `mntp(causal)` region keeps causal.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskTokens {
    pub modality: String,
    pub min_rate: f64,
    pub max_rate: f64,
    pub causal: Option<f64>,
}

/// What a model draws each training step, in the checked graph's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrawSpec {
    pub mask_tokens: Vec<MaskTokens>,
    /// Each `sampled` loop (by path) and its mean passes.
    pub sampled: Vec<(String, u64)>,
}

/// What one step drew (for the metrics log).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drawn {
    /// Per `mask_tokens` modality: the rate drawn from its range.
    pub rates: BTreeMap<String, f64>,
    /// Per `sampled` loop (by path): the passes drawn.
    pub steps: BTreeMap<String, usize>,
}

/// Passes of a `sampled(mean, backprop)` loop for one training step: 1 + Poisson(λ) with
/// λ log-normal, ln λ ~ N(ln(mean − 1) − σ²/2, σ²). Huginn draws r ~ Poisson(e^τ) + 1 with
/// τ ~ N(ln r̄ − σ²/2, σ²), whose mean is r̄ + 1; centring on mean − 1 makes the expected
/// passes equal the declared mean, which is what inference runs and what `archc build`
/// counts.
pub fn draw_passes(mean: u64, rng: &mut Rng) -> usize {
    if mean <= 1 {
        return 1;
    }
    let s = RECURRENCE_SIGMA;
    let tau = ((mean - 1) as f64).ln() - s * s / 2.0 + s * rng.normal();
    1 + rng.poisson(tau.exp()) as usize
}

/// How many of a batch's `b` examples an `mntp(causal)` modality keeps causal.
pub fn causal_examples(b: usize, causal: f64) -> usize {
    ((b as f64 * causal).round() as usize).min(b)
}

/// Fills `batch.masked` and `batch.steps` with this step's draws and returns them. A
/// modality with `mask_tokens(rate = lo .. hi)` gets one rate r ~ U[lo, hi] for the whole
/// batch, then each of its rows (every sequence, every position of the modality) is masked
/// with probability r, independently; under `mntp(causal)` the first round(b · causal)
/// sequences are then unmasked.
pub fn draw_for_training<B: Backend>(
    spec: &DrawSpec,
    batch: &mut Batch<B>,
    rng: &mut Rng,
) -> Drawn {
    let mut drawn = Drawn::default();
    let b = batch.batch_size();
    let device = batch.device().ok();
    for m in &spec.mask_tokens {
        let Some(device) = &device else { continue };
        let rate = m.min_rate + (m.max_rate - m.min_rate) * rng.unit();
        let n = batch.positions(&format!("S_{}", m.modality)).len();
        let mut rows: Vec<bool> = (0..b * n).map(|_| rng.unit() < rate).collect();
        if let Some(causal) = m.causal {
            // GPT-BERT: the first round(b · causal) examples stay causal, unmasked.
            let c = causal_examples(b, causal);
            rows[..c * n].fill(false);
        }
        batch.masked.insert(
            m.modality.clone(),
            Tensor::<B, 2, Bool>::from_data(TensorData::new(rows, [b, n]), device),
        );
        drawn.rates.insert(m.modality.clone(), rate);
    }
    for (path, mean) in &spec.sampled {
        let passes = draw_passes(*mean, rng);
        batch.steps.insert(path.clone(), passes);
        drawn.steps.insert(path.clone(), passes);
    }
    drawn
}
