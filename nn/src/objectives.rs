//! Each head's loss (archc's docs/semantics.md, "Objectives"), from the forward pass's
//! outputs and the batch's targets. A head predicts its target stem's stream over that
//! stem's positions, in sequence order.

use crate::batch::{index, Batch};
use crate::diffusion::DiffusionMlp;
use crate::rng::Rng;
use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Bool, Int, Tensor};
use std::collections::HashMap;

/// How a masked-regression head compares a prediction with its target row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RegressionLoss {
    /// The mean squared error per row.
    Mse,
    /// 1 − cos(prediction, target).
    Cosine,
}

/// What a head is trained to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Cross-entropy of position k against id k + `shift` (`next_token`, `vq_ce`; shift 1,
    /// or 0 over a `next_scale` stem) for k >= `skip` (a `prefix(len)` region leaves out
    /// the len - 1 predictions its positions can see), plus `z_loss` · mean(logsumexp²)
    /// (PaLM). With `mntp` (GPT-BERT), a sequence with masked rows of the target is scored
    /// only where the predicted row is masked.
    NextId {
        z_loss: f64,
        skip: usize,
        shift: usize,
        mntp: bool,
    },
    /// Position k regresses target row k + shift over the scored rows (GPT-BERT).
    MaskedRegression { shift: usize, loss: RegressionLoss },
    /// MAR's per-token diffusion loss, conditioned on the head's output.
    Diffusion,
    /// Needs class labels, which no data source gives yet.
    Classify,
}

/// A trained head, in the checked graph's order.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadSpec {
    pub head: String,
    /// The objective's `.arch` name (`next_token`, `vq_ce`, ...).
    pub name: String,
    /// The stem whose stream the head predicts.
    pub target: String,
    pub objective: Objective,
    pub weight: f64,
}

/// One head's loss this step.
pub struct HeadLoss<B: Backend> {
    pub head: String,
    /// The objective's name (`next_token`, `vq_ce`, ...).
    pub objective: String,
    /// The objective's loss, z-loss included, before the head's weight: `[1]`.
    pub loss: Tensor<B, 1>,
    pub weight: f64,
}

/// Whether every objective can be trained from data that gives ids and features (a
/// `classify` head needs labels, which no data source gives yet).
pub fn check_trainable(heads: &[HeadSpec]) -> Result<(), String> {
    match heads.iter().find(|h| h.objective == Objective::Classify) {
        Some(h) => Err(format!(
            "head `{}` has a `classify` objective, and no data source gives class labels yet",
            h.head
        )),
        None => Ok(()),
    }
}

/// Every head's loss, from each head's output (`outputs`) and, for a diffusion head, its
/// MLP (`diffusion`, by head name). A head whose stream is too short to predict anything
/// this batch (one position, or no masked row) is left out.
pub fn head_losses<'m, B: Backend>(
    heads: &[HeadSpec],
    outputs: &HashMap<String, Tensor<B, 3>>,
    batch: &Batch<B>,
    diffusion: impl Fn(&str) -> Option<&'m DiffusionMlp<B>>,
    rng: &mut Rng,
) -> Result<Vec<HeadLoss<B>>, String> {
    let mut losses = Vec::new();
    for h in heads {
        let (head, target) = (h.head.as_str(), h.target.as_str());
        let y = outputs
            .get(head)
            .cloned()
            .ok_or_else(|| format!("head `{head}` produced no output"))?;
        let loss = match h.objective {
            Objective::NextId {
                z_loss,
                skip,
                shift,
                mntp,
            } => {
                let ids = batch.ids.get(target).cloned().ok_or_else(|| {
                    format!("head `{head}` predicts `{target}`, which has no ids")
                })?;
                let scored = mntp
                    .then(|| batch.masked.get(target))
                    .flatten()
                    .map(|m| mntp_scored(m.clone()));
                next_id_loss(y, ids, z_loss, skip, shift, scored)
            }
            Objective::MaskedRegression { shift, loss } => {
                let x = features(batch, head, target)?;
                regression(y, x, batch, target, shift, loss)
            }
            Objective::Diffusion => {
                let x = features(batch, head, target)?;
                let mlp =
                    diffusion(head).ok_or_else(|| format!("head `{head}` has no diffusion MLP"))?;
                diffusion_rows(y, x, batch, target).map(|(x, z)| mlp.loss(x, z, rng))
            }
            Objective::Classify => {
                return Err(format!(
                    "head `{head}`: `classify` needs class labels, which no data source gives yet"
                ))
            }
        };
        if let Some(loss) = loss {
            losses.push(HeadLoss {
                head: h.head.clone(),
                objective: h.name.clone(),
                loss,
                weight: h.weight,
            });
        }
    }
    Ok(losses)
}

fn features<B: Backend>(b: &Batch<B>, head: &str, target: &str) -> Result<Tensor<B, 3>, String> {
    b.features
        .get(target)
        .cloned()
        .ok_or_else(|| format!("head `{head}` predicts `{target}`, which has no feature rows"))
}

/// Cross-entropy of position k's logits against id k + `shift` for k >= `skip` (`shift` is
/// 1, or 0 over a `next_scale` stem: `ArchGraph::target_shift`), plus `z_loss` ·
/// mean(logsumexp²) over the same positions (PaLM's auxiliary loss).
///
/// # Shapes
/// logits `[b, n, V]`, ids `[b, n]` -> `[1]`
pub fn next_id_loss<B: Backend>(
    logits: Tensor<B, 3>,
    ids: Tensor<B, 2, Int>,
    z_loss: f64,
    skip: usize,
    shift: usize,
    scored: Option<Tensor<B, 2>>,
) -> Option<Tensor<B, 1>> {
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
        Some(w) => (x * w.clone())
            .sum()
            .div(w.clone().sum().clamp_min(1.0))
            .reshape([1]),
        None => x.mean().reshape([1]),
    };
    let ce = mean(ce);
    if z_loss == 0.0 {
        return Some(ce);
    }
    let max = logits.clone().max_dim(2).detach(); // [b, m, 1]
    let lse = (logits - max.clone().expand([b, m, v]))
        .exp()
        .sum_dim(2)
        .log()
        + max;
    Some(ce + mean(lse.powi_scalar(2)).mul_scalar(z_loss))
}

/// GPT-BERT's MNTP weights over an `mntp` target's rows, from its masked rows `[b, n]`:
/// a sequence with masked rows scores the predictions of those only, one without every
/// prediction. `-> [b, n]` of 0.0 and 1.0
pub fn mntp_scored<B: Backend>(masked: Tensor<B, 2, Bool>) -> Tensor<B, 2> {
    let [b, n] = masked.dims();
    let rows = masked.float(); // [b, n]
    let has = rows.clone().sum_dim(1).greater_elem(0.0).float(); // [b, 1]
    rows * has.clone().expand([b, n]) + has.neg().add_scalar(1.0).expand([b, n])
}

/// The rows a masked objective scores at target row k + shift: the masked ones when the
/// modality has `mask_tokens`, else all. `[b, n - shift, 1]`, 1.0 where scored.
fn scored<B: Backend>(
    batch: &Batch<B>,
    target: &str,
    b: usize,
    n: usize,
    shift: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    match batch.masked.get(target) {
        Some(m) => m
            .clone()
            .narrow(1, shift, n - shift)
            .float()
            .reshape([b, n - shift, 1]),
        None => Tensor::ones([b, n - shift, 1], device),
    }
}

/// GPT-BERT's shifted masked prediction: position k's output regresses target row
/// k + shift, over the scored rows; `mse` is the mean squared error per row, `cosine`
/// 1 − cos(prediction, target).
///
/// # Shapes
/// y `[b, n, d]`, x `[b, n, d]` -> `[1]`
fn regression<B: Backend>(
    y: Tensor<B, 3>,
    x: Tensor<B, 3>,
    batch: &Batch<B>,
    target: &str,
    shift: usize,
    loss: RegressionLoss,
) -> Option<Tensor<B, 1>> {
    let [b, n, _] = y.dims();
    if n <= shift {
        return None;
    }
    let pred = y.narrow(1, 0, n - shift);
    let want = x.narrow(1, shift, n - shift);
    let per_row = match loss {
        RegressionLoss::Mse => (pred - want).powi_scalar(2).mean_dim(2), // [b, n-s, 1]
        RegressionLoss::Cosine => {
            let dot = (pred.clone() * want.clone()).sum_dim(2);
            let norms = (pred.powi_scalar(2).sum_dim(2) * want.powi_scalar(2).sum_dim(2))
                .sqrt()
                .clamp_min(1e-8);
            (dot / norms).neg().add_scalar(1.0)
        }
    };
    let w = scored(batch, target, b, n, shift, &per_row.device());
    let count = w.clone().sum().clamp_min(1.0);
    Some((per_row * w).sum().div(count).reshape([1]))
}

/// The (target row, condition) pairs a diffusion head trains on: with `mask_tokens`, each
/// masked row from the output at its own position (MAR); without, row k + 1 from the
/// output at k (autoregressive). None when there is no such pair this batch.
///
/// # Shapes
/// z `[b, n, zd]`, x `[b, n, d]` -> (`[m, d]`, `[m, zd]`)
fn diffusion_rows<B: Backend>(
    z: Tensor<B, 3>,
    x: Tensor<B, 3>,
    batch: &Batch<B>,
    target: &str,
) -> Option<(Tensor<B, 2>, Tensor<B, 2>)> {
    let [b, n, zd] = z.dims();
    let d = x.dims()[2];
    let device = z.device();
    let (rows, conds): (Vec<usize>, Vec<usize>) = match batch.masked.get(target) {
        Some(m) => {
            let m: Vec<bool> = m.clone().into_data().to_vec().unwrap_or_default();
            let hit: Vec<usize> = (0..b * n).filter(|&i| m.get(i) == Some(&true)).collect();
            (hit.clone(), hit)
        }
        None => (0..b)
            .flat_map(|s| (0..n.saturating_sub(1)).map(move |k| (s * n + k + 1, s * n + k)))
            .unzip(),
    };
    if rows.is_empty() {
        return None;
    }
    let x = x.reshape([b * n, d]).select(0, index::<B>(&rows, &device));
    let z = z
        .reshape([b * n, zd])
        .select(0, index::<B>(&conds, &device));
    Some((x, z))
}

#[cfg(test)]
mod tests {
    use super::{mntp_scored, next_id_loss};
    use burn::backend::NdArray;
    use burn::tensor::{Int, Tensor, TensorData};

    type B = NdArray<f32>;

    /// −log softmax(logits[s][k])[ids[s][k + shift]], averaged over k >= skip, in f64.
    #[allow(clippy::too_many_arguments)]
    fn by_hand(
        logits: &[f32],
        ids: &[i64],
        b: usize,
        n: usize,
        v: usize,
        skip: usize,
        shift: usize,
    ) -> f64 {
        let mut sum = 0.0;
        let mut count = 0;
        for s in 0..b {
            for k in skip..n - shift {
                let row = &logits[(s * n + k) * v..][..v];
                let lse = row.iter().map(|&x| f64::from(x).exp()).sum::<f64>().ln();
                sum += lse - f64::from(row[ids[s * n + k + shift] as usize]);
                count += 1;
            }
        }
        sum / count as f64
    }

    /// A `prefix(len)` leaves out the first len − 1 predictions (docs/semantics.md).
    #[test]
    fn the_loss_skips_the_predictions_a_prefix_can_see() {
        let (b, n, v) = (2, 7, 5);
        let logits: Vec<f32> = (0..b * n * v)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let ids: Vec<i64> = (0..b * n).map(|i| (i * 3 % v) as i64).collect();
        let device = Default::default();
        let lt = Tensor::<B, 3>::from_data(TensorData::new(logits.clone(), [b, n, v]), &device);
        let it = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [b, n]), &device);
        // shift 1: next-position; shift 0: a `next_scale` stem's own code.
        for (skip, shift) in [(0, 1), (1, 1), (3, 1), (5, 1), (0, 0), (6, 0)] {
            let got: f32 = next_id_loss(lt.clone(), it.clone(), 0.0, skip, shift, None)
                .expect("predictions left")
                .into_scalar();
            let want = by_hand(&logits, &ids, b, n, v, skip, shift);
            assert!(
                (f64::from(got) - want).abs() < 1e-5,
                "skip {skip}, shift {shift}: {got} vs {want}"
            );
        }
        // MNTP weights: sequence 0 unmasked (every prediction), sequence 1 masked at rows
        // 2 and 5 (only the predictions of those: from positions 1 and 4).
        let mut masked = vec![false; b * n];
        masked[n + 2] = true;
        masked[n + 5] = true;
        let w = mntp_scored(Tensor::<B, 2, burn::tensor::Bool>::from_data(
            TensorData::new(masked, [b, n]),
            &device,
        ));
        let got: f32 = next_id_loss(lt.clone(), it.clone(), 0.0, 0, 1, Some(w))
            .expect("predictions left")
            .into_scalar();
        // −log softmax(logits[s][k])[ids[s][k + 1]], in f64.
        let one = |s: usize, k: usize| {
            let row = &logits[(s * n + k) * v..][..v];
            let lse = row.iter().map(|&x| f64::from(x).exp()).sum::<f64>().ln();
            lse - f64::from(row[ids[s * n + k + 1] as usize])
        };
        let want = ((0..n - 1).map(|k| one(0, k)).sum::<f64>() + one(1, 1) + one(1, 4))
            / (n - 1 + 2) as f64;
        assert!(
            (f64::from(got) - want).abs() < 1e-5,
            "mntp: {got} vs {want}"
        );
        // Nothing left to predict: no loss.
        assert!(next_id_loss(lt.clone(), it.clone(), 0.0, 6, 1, None).is_none());
        assert!(next_id_loss(lt, it, 0.0, 7, 0, None).is_none());
    }
}
