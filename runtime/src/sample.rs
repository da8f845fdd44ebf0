//! Generating text: autoregressive sampling with the cached decoder (decode.rs) from a
//! model's first next-token head. The library's entry, so that generating needs no CLI
//! (`archc sample` reads a checkpoint, builds the prompt and prints what this returns).

use crate::batch::Batch;
use crate::data::HostBatch;
use crate::decode::Decoder;
use crate::model::{ArchModel, Plan, Unsupported};
use crate::objectives::trained_heads;
use crate::rng::Rng;
use archc::graph::NodeKind;
use archc::model::{ObjectiveKind, StemKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// The head text is sampled from: the first next-token head, the tokens stem it
/// predicts, and that stem's vocabulary and context.
#[derive(Clone, Debug, PartialEq)]
pub struct TextHead {
    pub head: String,
    pub stem: String,
    pub vocab: u64,
    pub max_len: usize,
}

impl TextHead {
    /// The model's text head; Err when it has none to sample from.
    pub fn of(plan: &Plan) -> Result<TextHead, Unsupported> {
        let (head, stem) = trained_heads(plan)
            .into_iter()
            .find_map(|(h, o, t)| (o.kind == ObjectiveKind::NextToken).then_some((h, t?)))
            .ok_or_else(|| {
                Unsupported(format!(
                    "`{}` has no next-token head to sample from",
                    plan.graph.name
                ))
            })?;
        let (vocab, max_len) = plan
            .graph
            .graph
            .node_weights()
            .find_map(|n| match &n.kind {
                NodeKind::Input {
                    modality,
                    stem: StemKind::Tokens { vocab, max_len },
                } if *modality == stem => Some((*vocab, *max_len as usize)),
                _ => None,
            })
            .ok_or_else(|| {
                Unsupported(format!(
                    "head `{head}` predicts `{stem}`, which is not a tokens stem"
                ))
            })?;
        Ok(TextHead {
            head,
            stem,
            vocab,
            max_len,
        })
    }
}

/// How to pick each next token.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    /// The most tokens to generate.
    pub max_tokens: usize,
    /// 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Sample among the k most likely tokens only.
    pub top_k: Option<usize>,
    /// Seeds the draws.
    pub seed: u64,
    /// A token that ends the output (it is kept).
    pub stop: Option<i64>,
}

/// What was generated.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    pub tokens: Vec<i64>,
    /// Per token, the most passes a loop made for it (empty for a model without loops).
    pub passes: Vec<usize>,
}

/// Continues `prompt` (the text stem's ids) after `prefix`'s segments (images ...; a
/// batch of one) until `max_tokens`, the stop token, or the stem's context is full.
pub fn generate<B: Backend>(
    model: &ArchModel<B>,
    plan: &Plan,
    text: &TextHead,
    prefix: &HostBatch,
    prompt: &[i64],
    config: &SampleConfig,
    device: &B::Device,
) -> Result<Sampled, Unsupported> {
    if prompt.is_empty() {
        return Err(Unsupported("the prompt is empty".into()));
    }
    if prompt.len() >= text.max_len {
        return Err(Unsupported(format!(
            "the prompt has {} tokens; `{}` holds at most {}",
            prompt.len(),
            text.stem,
            text.max_len
        )));
    }
    let mut dec = Decoder::new(model, plan, 1)?;
    let mut first = Batch::<B>::from_host(prefix, device);
    first.layout.push((text.stem.clone(), prompt.len()));
    first
        .ids
        .insert(text.stem.clone(), ids::<B>(prompt, device));
    let mut rng = Rng::new(config.seed ^ 0x5A3);
    let mut step = dec.extend(&first)?;
    let mut out = Sampled {
        tokens: Vec::new(),
        passes: Vec::new(),
    };
    for _ in 0..config.max_tokens {
        let logits = step
            .heads
            .get(&text.head)
            .cloned()
            .ok_or_else(|| Unsupported(format!("head `{}` gave no output", text.head)))?;
        let n = logits.dims()[1];
        // [1, n, V] -> the last position's V logits
        let last: Vec<f32> = logits
            .narrow(1, n - 1, 1)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        let id = pick(&last, config.temperature, config.top_k, &mut rng);
        out.tokens.push(id);
        if !plan.loops.is_empty() {
            out.passes
                .push(step.loop_steps.values().copied().max().unwrap_or(1));
        }
        if config.stop == Some(id) || prompt.len() + out.tokens.len() >= text.max_len {
            break;
        }
        let mut one = Batch::<B>::new(vec![(text.stem.clone(), 1)]);
        one.ids.insert(text.stem.clone(), ids::<B>(&[id], device));
        step = dec.extend(&one)?;
    }
    Ok(out)
}

fn ids<B: Backend>(v: &[i64], device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

/// Greedy at temperature 0; otherwise softmax(logits / t) over the top k, drawn with `rng`.
pub fn pick(logits: &[f32], temperature: f64, top_k: Option<usize>, rng: &mut Rng) -> i64 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if temperature == 0.0 || order.len() < 2 {
        return order.first().copied().unwrap_or(0) as i64;
    }
    order.truncate(top_k.unwrap_or(order.len()).max(1));
    let top = f64::from(logits[order[0]]);
    let w: Vec<f64> = order
        .iter()
        .map(|&i| ((f64::from(logits[i]) - top) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.unit() * total;
    for (i, wi) in order.iter().zip(&w) {
        if u < *wi {
            return *i as i64;
        }
        u -= wi;
    }
    *order.last().unwrap_or(&0) as i64
}

#[cfg(test)]
mod tests {
    use super::pick;
    use crate::rng::Rng;

    #[test]
    fn greedy_takes_the_largest_and_top_1_is_greedy() {
        let mut rng = Rng::new(3);
        let logits = [0.1, 2.5, -1.0, 2.4];
        assert_eq!(pick(&logits, 0.0, None, &mut rng), 1);
        for _ in 0..20 {
            assert_eq!(pick(&logits, 1.0, Some(1), &mut rng), 1);
        }
        // Top 2 never draws outside the two largest.
        for _ in 0..50 {
            assert!([1, 3].contains(&pick(&logits, 5.0, Some(2), &mut rng)));
        }
    }
}
