//! Each head's loss (archc's docs/semantics.md, "Objectives"), from the forward pass's
//! outputs and the batch's targets: the same computation, in the same order, as archc's
//! runtime. A head predicts its target stem's stream over that stem's positions.

use crate::batch::Batch;
use crate::layers::Rng;
use crate::model::{Model, Output, HEADS};
use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Bool, Int, Tensor, TensorData};

/// What a head is trained to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Cross-entropy of position k against id k + `shift` (`next_token`, `vq_ce`; shift 1,
    /// or 0 over a `next_scale` stem) for k >= `skip` (a `prefix(len)` region leaves out
    /// the len - 1 predictions its positions can see), plus `z_loss` · mean(logsumexp²)
    /// (PaLM). With `mntp` (GPT-BERT), a sequence with masked rows of the target is scored
    /// only where the predicted row is masked.
    NextId { z_loss: f64, skip: usize, shift: usize, mntp: bool },
    /// Position k regresses target row k + shift over the scored rows (GPT-BERT);
    /// 1 − cos when `cosine`, else the mean squared error.
    MaskedRegression { shift: usize, cosine: bool },
    /// MAR's per-token diffusion loss, conditioned on the head's output.
    Diffusion,
    /// Needs class labels, which shards do not hold.
    Classify,
}

/// A trained head, in the checked graph's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadSpec {
    pub head: &'static str,
    /// The objective's `.arch` name (`next_token`, `vq_ce`, ...).
    pub name: &'static str,
    /// The stem whose stream the head predicts.
    pub target: &'static str,
    pub objective: Objective,
    pub weight: f64,
}

/// One head's loss this step.
pub struct HeadLoss<B: Backend> {
    pub head: &'static str,
    /// The loss before the head's weight, z-loss included: `[1]`.
    pub loss: Tensor<B, 1>,
    pub weight: f64,
}

/// Refuses a model with an objective that shards cannot train.
pub fn check_trainable() -> Result<(), String> {
    match HEADS.iter().find(|h| h.objective == Objective::Classify) {
        Some(h) => Err(format!("head `{}` has a `classify` objective, and the data holds no class labels", h.head)),
        None => Ok(()),
    }
}

/// Every head's loss. A head with nothing to predict this batch (one position, or no
/// masked row) is left out.
pub fn head_losses<B: Backend>(model: &Model<B>, out: &Output<B>, batch: &Batch<B>, rng: &mut Rng) -> Result<Vec<HeadLoss<B>>, String> {
    let mut losses = Vec::new();
    for h in HEADS {
        let y = out.heads.get(h.head).cloned().ok_or_else(|| format!("head `{}` produced no output", h.head))?;
        let loss = match h.objective {
            Objective::NextId { z_loss, skip, shift, mntp } => {
                let scored = if mntp { batch.masked.get(h.target).map(|m| mntp_scored(m.clone())) } else { None };
                next_id_loss(y, batch.ids(h.target)?, z_loss, skip, shift, scored)
            }
            Objective::MaskedRegression { shift, cosine } => regression(y, batch.features(h.target)?, batch, h.target, shift, cosine),
            Objective::Diffusion => {
                let mlp = model.diffusion(h.head).ok_or_else(|| format!("head `{}` has no diffusion MLP", h.head))?;
                diffusion_rows(y, batch.features(h.target)?, batch, h.target).map(|(x, z)| mlp.loss(x, z, rng))
            }
            Objective::Classify => return Err(format!("head `{}`: `classify` needs class labels", h.head)),
        };
        if let Some(loss) = loss {
            losses.push(HeadLoss { head: h.head, loss, weight: h.weight });
        }
    }
    Ok(losses)
}

/// # Shapes
/// logits `[b, n, V]`, ids `[b, n]` -> `[1]`
pub fn next_id_loss<B: Backend>(logits: Tensor<B, 3>, ids: Tensor<B, 2, Int>, z_loss: f64, skip: usize, shift: usize, scored: Option<Tensor<B, 2>>) -> Option<Tensor<B, 1>> {
    let [b, n, v] = logits.dims();
    if n < skip + shift + 1 {
        return None;
    }
    let m = n - shift - skip; // scored predictions
    let logits = logits.narrow(1, skip, m); // [b, m, V]
    let targets = ids.narrow(1, skip + shift, m).reshape([b, m, 1]);
    let logp = log_softmax(logits.clone(), 2);
    let ce = logp.gather(2, targets).neg(); // [b, m, 1]
    // With weights (GPT-BERT's MNTP), the weighted mean over the predictions scored.
    let w = scored.map(|w| w.narrow(1, skip + shift, m).reshape([b, m, 1])); // [b, m, 1]
    let mean = |x: Tensor<B, 3>| match &w {
        Some(w) => (x * w.clone()).sum().div(w.clone().sum().clamp_min(1.0)).reshape([1]),
        None => x.mean().reshape([1]),
    };
    let ce = mean(ce);
    if z_loss == 0.0 {
        return Some(ce);
    }
    let max = logits.clone().max_dim(2).detach(); // [b, m, 1]
    let lse = (logits - max.clone().expand([b, m, v])).exp().sum_dim(2).log() + max;
    Some(ce + mean(lse.powi_scalar(2)).mul_scalar(z_loss))
}

/// GPT-BERT's MNTP weights from a target's masked rows `[b, n]`: a sequence with masked
/// rows scores the predictions of those only, one without every prediction. `-> [b, n]`
pub fn mntp_scored<B: Backend>(masked: Tensor<B, 2, Bool>) -> Tensor<B, 2> {
    let [b, n] = masked.dims();
    let rows = masked.float(); // [b, n]
    let has = rows.clone().sum_dim(1).greater_elem(0.0).float(); // [b, 1]
    rows * has.clone().expand([b, n]) + has.neg().add_scalar(1.0).expand([b, n])
}

/// 1.0 at the rows a masked objective scores at target row k + shift: the masked ones
/// when the modality has `mask_tokens`, else all. `[b, n - shift, 1]`
fn scored<B: Backend>(batch: &Batch<B>, target: &str, b: usize, n: usize, shift: usize, device: &B::Device) -> Tensor<B, 3> {
    match batch.masked.get(target) {
        Some(m) => m.clone().narrow(1, shift, n - shift).float().reshape([b, n - shift, 1]),
        None => Tensor::ones([b, n - shift, 1], device),
    }
}

/// # Shapes
/// y `[b, n, d]`, x `[b, n, d]` -> `[1]`
fn regression<B: Backend>(y: Tensor<B, 3>, x: Tensor<B, 3>, batch: &Batch<B>, target: &str, shift: usize, cosine: bool) -> Option<Tensor<B, 1>> {
    let [b, n, _] = y.dims();
    if n <= shift {
        return None;
    }
    let pred = y.narrow(1, 0, n - shift);
    let want = x.narrow(1, shift, n - shift);
    let per_row = if cosine {
        let dot = (pred.clone() * want.clone()).sum_dim(2);
        let norms = (pred.powi_scalar(2).sum_dim(2) * want.powi_scalar(2).sum_dim(2)).sqrt().clamp_min(1e-8);
        (dot / norms).neg().add_scalar(1.0)
    } else {
        (pred - want).powi_scalar(2).mean_dim(2) // [b, n-s, 1]
    };
    let w = scored(batch, target, b, n, shift, &per_row.device());
    let count = w.clone().sum().clamp_min(1.0);
    Some((per_row * w).sum().div(count).reshape([1]))
}

fn index<B: Backend>(rows: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_data(TensorData::new(v, [rows.len()]), device)
}

/// The (target row, condition) pairs a diffusion head trains on: with `mask_tokens`, each
/// masked row from the output at its own position (MAR); without, row k + 1 from the
/// output at k.
///
/// # Shapes
/// z `[b, n, zd]`, x `[b, n, d]` -> (`[m, d]`, `[m, zd]`)
fn diffusion_rows<B: Backend>(z: Tensor<B, 3>, x: Tensor<B, 3>, batch: &Batch<B>, target: &str) -> Option<(Tensor<B, 2>, Tensor<B, 2>)> {
    let [b, n, zd] = z.dims();
    let d = x.dims()[2];
    let device = z.device();
    let (rows, conds): (Vec<usize>, Vec<usize>) = match batch.masked.get(target) {
        Some(m) => {
            let m: Vec<bool> = m.clone().into_data().to_vec().unwrap_or_default();
            let hit: Vec<usize> = (0..b * n).filter(|&i| m.get(i) == Some(&true)).collect();
            (hit.clone(), hit)
        }
        None => (0..b).flat_map(|s| (0..n.saturating_sub(1)).map(move |k| (s * n + k + 1, s * n + k))).unzip(),
    };
    if rows.is_empty() {
        return None;
    }
    let x = x.reshape([b * n, d]).select(0, index::<B>(&rows, &device));
    let z = z.reshape([b * n, zd]).select(0, index::<B>(&conds, &device));
    Some((x, z))
}
