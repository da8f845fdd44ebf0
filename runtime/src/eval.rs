//! Held-out evaluation of the built-in task (docs/data.md): how often a model's greedy
//! next token where each query's answer `f^k(x)` follows is that answer. The examples come
//! from their own generator stream, never the training stream, so they are not batches
//! the model was trained on (each draws a fresh random function).

use crate::batch::Batch;
use crate::data::{self, synthetic_answer_positions, DataSpec, HostBatch};
use crate::model::{ArchModel, Plan, Unsupported};
use crate::objectives::trained_heads;
use crate::rng::Rng;
use archc::model::ObjectiveKind;
use burn::tensor::backend::Backend;

/// The generator stream held-out examples are drawn from (the training streams are
/// `train::DATA_STREAM` and `train::DRAW_STREAM`).
pub const EVAL_STREAM: u64 = 0xE7A1;

/// A fixed set of held-out examples of the built-in task, and the head that answers.
pub struct AnswerSet {
    batches: Vec<HostBatch>,
    head: String,
    stem: String,
}

/// Answers right out of answers asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accuracy {
    pub correct: usize,
    pub total: usize,
}

impl Accuracy {
    pub fn rate(self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

impl AnswerSet {
    /// `examples` held-out sequences (rounded up to whole batches of `spec`) of `--data
    /// DATA`, when DATA is the built-in task and the model has a next-token head over the
    /// task's text stem; `None` otherwise (there is no answer to score).
    pub fn new(
        plan: &Plan,
        data: &str,
        spec: &DataSpec,
        examples: usize,
        seed: u64,
    ) -> Result<Option<AnswerSet>, String> {
        if !(data == "synthetic" || data.starts_with("synthetic:")) {
            return Ok(None);
        }
        let Some((stem, _, _)) = spec.text_stems().next() else {
            return Ok(None);
        };
        let head = trained_heads(plan).into_iter().find_map(|(h, o, t)| {
            (o.kind == ObjectiveKind::NextToken && t.as_deref() == Some(stem)).then_some(h)
        });
        let Some(head) = head else {
            return Ok(None);
        };
        let mut source = data::open(data, spec).map_err(|e| e.to_string())?;
        let mut rng = Rng::new(seed ^ EVAL_STREAM);
        let batches = (0..examples.div_ceil(spec.batch.max(1)))
            .map(|_| source.next_batch(&mut rng).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Some(AnswerSet {
            batches,
            head,
            stem: stem.to_string(),
        }))
    }

    /// The head scored (the first next-token head over the task's text).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Runs `model` over every example (nothing masked, loops at their inference passes)
    /// and counts the answers its most likely next token gets right.
    pub fn score<B: Backend>(
        &self,
        model: &ArchModel<B>,
        plan: &Plan,
        device: &B::Device,
    ) -> Result<Accuracy, Unsupported> {
        let mut acc = Accuracy {
            correct: 0,
            total: 0,
        };
        for host in &self.batches {
            let out = model.forward_batch(plan, &Batch::<B>::from_host(host, device))?;
            let logits = out
                .heads
                .get(&self.head)
                .ok_or_else(|| Unsupported(format!("head `{}` gave no output", self.head)))?;
            let [b, n, _] = logits.dims();
            // [b, n]: the most likely next id at every position.
            let best: Vec<i64> = logits
                .clone()
                .argmax(2)
                .into_data()
                .convert::<i64>()
                .to_vec()
                .unwrap_or_default();
            let ids = &host.ids[&self.stem];
            let len = ids.len() / b.max(1);
            for s in 0..b {
                let text = &ids[s * len..(s + 1) * len];
                for p in synthetic_answer_positions(text)
                    .into_iter()
                    .filter(|&p| p < n)
                {
                    acc.total += 1;
                    acc.correct += usize::from(best.get(s * n + p) == Some(&text[p + 1]));
                }
            }
        }
        Ok(acc)
    }
}
