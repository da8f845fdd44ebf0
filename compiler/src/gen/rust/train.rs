//! Training, as `archc train` does it (archc's docs/training.md): each step draws `accum`
//! micro-batches from the shards, draws the mask rates, masked rows and recurrence passes,
//! runs forward and backward, sums the gradients, clips them and takes one AdamW update at
//! the scheduled learning rate. Two generators (data and draws) seeded as archc seeds
//! them; a checkpoint stores their states, so a resumed run continues exactly, and runs
//! move between this crate and `archc train --resume` in both directions.

use crate::batch::Batch;
use crate::checkpoint::{self, sha256, State};
use crate::data::Shards;
use crate::layers::Rng;
use crate::model::{Model, ModelConfig, HEADS, IR_YAML, LOOPS, MASK_TOKENS, MNTP, MODEL_NAME, SAMPLED};
use crate::objectives::{check_trainable, head_losses};
use crate::optim::{scheduled_lr, AdamW, AdamWConfig, Grads};
use crate::weights::{to_safetensors, Loader, Saver};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Bool, ElementConversion, Tensor, TensorData};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The generator streams of a run, derived from its seed (archc's values).
pub const DATA_STREAM: u64 = 0xDA7A;
pub const DRAW_STREAM: u64 = 0xD4A3;
/// Huginn's spread of the log-normal rate: σ = 1/2 (Geiping et al. 2025, §3.3).
pub const RECURRENCE_SIGMA: f64 = 0.5;

/// `train`'s options: `archc train`'s names and defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// `shards:PATH` (or PATH): archc's multimodal shards, as `archc data` writes them.
    pub data: String,
    pub steps: u64,
    pub batch: usize,
    pub accum: usize,
    pub lr: f64,
    pub min_lr: Option<f64>,
    pub warmup: Option<u64>,
    pub clip: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub seed: u64,
    /// Starting weights (safetensors by `.arch` name) instead of the seeded ones.
    pub init: Option<String>,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub checkpoint_every: u64,
    pub keep: usize,
    pub jsonl: bool,
    pub log_every: Option<u64>,
}

pub const USAGE: &str = "train --data shards:PATH [--steps N] [--batch N] [--accum N] [--lr X] [--min-lr X] [--warmup N] [--clip X] [--weight-decay X] [--beta1 X] [--beta2 X] [--eps X] [--seed N] [--init WEIGHTS] [-o DIR] [--resume] [--checkpoint-every K] [--keep N] [--metrics csv|jsonl] [--log-every N]";

impl Default for Options {
    fn default() -> Self {
        Options {
            data: String::new(),
            steps: 200,
            batch: 8,
            accum: 1,
            lr: 1e-3,
            min_lr: None,
            warmup: None,
            clip: 1.0,
            weight_decay: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            seed: 0,
            init: None,
            out: None,
            resume: false,
            checkpoint_every: 50,
            keep: 2,
            jsonl: false,
            log_every: None,
        }
    }
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: `{v}` is not a valid value"))
}

impl Options {
    /// Parses the arguments after `train`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let flag = flag.as_str();
            match flag {
                "--data" => o.data = value(flag, it.next())?,
                "--steps" => o.steps = value(flag, it.next())?,
                "--batch" => o.batch = value(flag, it.next())?,
                "--accum" => o.accum = value(flag, it.next())?,
                "--lr" => o.lr = value(flag, it.next())?,
                "--min-lr" => o.min_lr = Some(value(flag, it.next())?),
                "--warmup" => o.warmup = Some(value(flag, it.next())?),
                "--clip" => o.clip = value(flag, it.next())?,
                "--weight-decay" => o.weight_decay = value(flag, it.next())?,
                "--beta1" => o.beta1 = value(flag, it.next())?,
                "--beta2" => o.beta2 = value(flag, it.next())?,
                "--eps" => o.eps = value(flag, it.next())?,
                "--seed" => o.seed = value(flag, it.next())?,
                "--init" => o.init = Some(value(flag, it.next())?),
                "-o" | "--out" => o.out = Some(value::<String>(flag, it.next())?.into()),
                "--resume" => o.resume = true,
                "--checkpoint-every" => o.checkpoint_every = value(flag, it.next())?,
                "--keep" => o.keep = value(flag, it.next())?,
                "--metrics" => {
                    o.jsonl = match value::<String>(flag, it.next())?.as_str() {
                        "csv" => false,
                        "jsonl" => true,
                        other => return Err(format!("--metrics: `{other}` is not csv or jsonl")),
                    }
                }
                "--log-every" => o.log_every = Some(value(flag, it.next())?),
                other => return Err(format!("unknown option `{other}`; usage: {USAGE}")),
            }
        }
        // Recorded as `archc train` spells it, so a run resumes in either.
        if !o.data.is_empty() && !o.data.starts_with("shards:") {
            o.data = format!("shards:{}", o.data);
        }
        if o.data.is_empty() {
            return Err("--data is required: archc shards (`archc data FILE -o shard.safetensors` writes archc's built-in task)".into());
        }
        o.check()?;
        Ok(o)
    }

    fn check(&self) -> Result<(), String> {
        if self.steps == 0 || self.batch == 0 || self.accum == 0 {
            return Err("--steps, --batch and --accum must be at least 1".into());
        }
        for (name, v) in [("--lr", self.lr), ("--eps", self.eps)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        for (name, v) in [("--clip", self.clip), ("--weight-decay", self.weight_decay), ("--min-lr", self.min_lr.unwrap_or(0.0))] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number >= 0, not {v}"));
            }
        }
        for (name, v) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(format!("{name} must be in [0, 1), not {v}"));
            }
        }
        Ok(())
    }

    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            accum: self.accum,
            adamw: AdamWConfig { lr: self.lr, beta1: self.beta1, beta2: self.beta2, eps: self.eps, weight_decay: self.weight_decay },
            min_lr: self.min_lr.unwrap_or(self.lr / 10.0),
            warmup: self.warmup.unwrap_or((self.steps / 10).min(100)),
            clip: self.clip,
        }
    }

    /// What must match to resume a run: `archc train`'s keys and spelling (shards fix
    /// the sequence, so `seq` is always unset).
    pub fn settings(&self) -> BTreeMap<String, String> {
        let c = self.config();
        BTreeMap::from([
            ("batch".into(), self.batch.to_string()),
            ("seq".into(), format!("{:?}", None::<usize>)),
            ("accum".into(), self.accum.to_string()),
            ("lr".into(), c.adamw.lr.to_string()),
            ("min_lr".into(), c.min_lr.to_string()),
            ("warmup".into(), c.warmup.to_string()),
            ("clip".into(), c.clip.to_string()),
            ("weight_decay".into(), c.adamw.weight_decay.to_string()),
            ("betas".into(), format!("{} {}", c.adamw.beta1, c.adamw.beta2)),
            ("eps".into(), c.adamw.eps.to_string()),
        ])
    }

    fn shards_path(&self) -> &str {
        self.data.strip_prefix("shards:").unwrap_or(&self.data)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub steps: u64,
    pub accum: usize,
    pub adamw: AdamWConfig,
    pub min_lr: f64,
    pub warmup: u64,
    /// Global gradient-norm clip; 0 for none.
    pub clip: f64,
}

/// What one step drew and did.
#[derive(Clone, Debug, Default)]
pub struct StepReport {
    pub step: u64,
    /// Per head: its loss before its weight, averaged over the micro-batches.
    pub losses: BTreeMap<String, f64>,
    pub total: f64,
    pub lr: f64,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
    pub tokens: usize,
    /// Per `mask_tokens` modality: the rate drawn (last micro-batch).
    pub rates: BTreeMap<String, f64>,
    /// Passes each loop made (last micro-batch).
    pub loop_steps: BTreeMap<String, usize>,
}

/// Passes of a `sampled(mean, ..)` loop: 1 + Poisson(λ), ln λ ~ N(ln(mean − 1) − σ²/2, σ²)
/// (Huginn's draw, centred so the expected passes equal the mean).
pub fn draw_passes(mean: u64, rng: &mut Rng) -> usize {
    if mean <= 1 {
        return 1;
    }
    let s = RECURRENCE_SIGMA;
    let tau = ((mean - 1) as f64).ln() - s * s / 2.0 + s * rng.normal();
    1 + rng.poisson(tau.exp()) as usize
}

/// Fills `batch.masked` and `batch.steps` with this micro-batch's draws: per
/// `mask_tokens` modality one rate r ~ U[lo, hi], each of its rows masked with
/// probability r (under `mntp(causal)` the first round(b · causal) sequences are then
/// unmasked); per `sampled` loop its passes. Returns the rates.
pub fn draw_for_training<B: burn::tensor::backend::Backend>(batch: &mut Batch<B>, rng: &mut Rng) -> BTreeMap<String, f64> {
    let mut rates = BTreeMap::new();
    let b = batch.batch_size();
    let device = batch.device().ok();
    for (modality, lo, hi) in MASK_TOKENS {
        let Some(device) = &device else { continue };
        let rate = lo + (hi - lo) * rng.unit();
        let n = batch.positions(&format!("S_{modality}")).len();
        let mut rows: Vec<bool> = (0..b * n).map(|_| rng.unit() < rate).collect();
        if let Some((_, causal)) = MNTP.iter().find(|(m, _)| m == modality) {
            // GPT-BERT: the first round(b · causal) sequences stay causal, unmasked.
            let c = ((b as f64 * causal).round() as usize).min(b);
            rows[..c * n].fill(false);
        }
        batch.masked.insert(modality.to_string(), Tensor::<B, 2, Bool>::from_data(TensorData::new(rows, [b, n]), device));
        rates.insert(modality.to_string(), rate);
    }
    for (path, mean) in SAMPLED {
        batch.steps.insert(path.to_string(), draw_passes(*mean, rng));
    }
    rates
}

/// Why training stopped: the exit code (2 usage, IO, data or checkpoint; 3 a loss or the
/// gradient norm became NaN or infinite) and the message.
#[derive(Debug)]
pub struct Stop(pub u8, pub String);

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop(2, e)
    }
}

pub struct Trainer<A: AutodiffBackend> {
    pub model: Model<A>,
    pub opt: AdamW<A::InnerBackend>,
    pub config: TrainConfig,
    pub step: u64,
    pub draws: Rng,
    pub data_rng: Rng,
    pub device: A::Device,
}

impl<A: AutodiffBackend> Trainer<A> {
    pub fn new(model: Model<A>, config: TrainConfig, seed: u64, device: A::Device) -> Result<Self, String> {
        check_trainable()?;
        Ok(Trainer { model, opt: AdamW::new(config.adamw.clone()), config, step: 0, draws: Rng::new(seed ^ DRAW_STREAM), data_rng: Rng::new(seed ^ DATA_STREAM), device })
    }

    /// One optimizer step; on error the model and optimizer are as before it.
    pub fn step(&mut self, data: &Shards, batch: usize) -> Result<StepReport, Stop> {
        let next = self.step + 1;
        let c = &self.config;
        let lr = scheduled_lr(next, c.adamw.lr, c.min_lr, c.warmup, c.steps);
        let accum = c.accum.max(1);
        let mut grads = Grads::default();
        let mut r = StepReport { step: next, lr, ..StepReport::default() };
        for _ in 0..accum {
            let mut b = data.next_batch::<A>(batch, &mut self.data_rng, &self.device);
            r.tokens += b.batch_size() * b.layout.iter().map(|(_, n)| n).sum::<usize>();
            r.rates = draw_for_training(&mut b, &mut self.draws);
            let out = self.model.forward(&b)?;
            r.loop_steps = out.loop_steps.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let heads = head_losses(&self.model, &out, &b, &mut self.draws)?;
            let mut sum: Option<Tensor<A, 1>> = None;
            for h in heads {
                let v: f64 = h.loss.clone().into_scalar().elem();
                if !v.is_finite() {
                    return Err(Stop(3, format!("step {next}: the loss of head `{}` is {v}", h.head)));
                }
                *r.losses.entry(h.head.to_string()).or_default() += v / accum as f64;
                r.total += h.weight * v / accum as f64;
                let weighted = h.loss.mul_scalar(h.weight);
                sum = Some(match sum {
                    Some(s) => s + weighted,
                    None => weighted,
                });
            }
            if let Some(sum) = sum {
                let g = sum.backward();
                grads.accumulate(&self.model, &g, 1.0 / accum as f64)?;
            }
        }
        r.grad_norm = if self.config.clip > 0.0 { grads.clip(self.config.clip) } else { grads.norm() };
        if !r.grad_norm.is_finite() {
            return Err(Stop(3, format!("step {next}: the gradient norm is {}", r.grad_norm)));
        }
        self.model = self.opt.step(self.model.clone(), &grads, lr)?;
        self.step = next;
        Ok(r)
    }
}

/// The weights as safetensors bytes, by `.arch` name.
pub fn save_weights<A: AutodiffBackend>(model: &Model<A>) -> Result<Vec<u8>, String> {
    let mut saver = Saver::default();
    model.clone().visit(&mut saver)?;
    to_safetensors(&saver.tensors)
}

fn load_weights<A: AutodiffBackend>(model: &mut Model<A>, bytes: &[u8], what: &str) -> Result<(), String> {
    let mut loader = Loader::from_bytes(bytes).map_err(|e| format!("{what}: {e}"))?;
    model.visit(&mut loader).map_err(|e| format!("{what}: {e}"))?;
    loader.finish().map_err(|e| format!("{what}: {e}"))
}

/// The SHA-256 of the model's IR (`ir.yaml`, as `archc build` writes it): the
/// architecture a checkpoint belongs to.
pub fn ir_sha256() -> String {
    sha256(IR_YAML.as_bytes())
}

/// Trains on `device`, writing DIR/metrics.csv (or .jsonl) and checkpoints as
/// `archc train` does.
pub fn train<A: AutodiffBackend>(o: &Options, device: A::Device) -> Result<(), Stop> {
    let data = Shards::open(o.shards_path())?;
    let dir = o.out.clone().unwrap_or_else(|| Path::new("runs").join(MODEL_NAME));
    let ir = ir_sha256();
    let resume = if o.resume {
        let c = checkpoint::read(&dir, MODEL_NAME, &ir).map_err(|e| e.to_string())?;
        resumable(o, &c)?;
        Some(c)
    } else {
        if let Ok(p) = checkpoint::resolve(&dir) {
            return Err(Stop(2, format!("`{}` already holds a run (checkpoint `{}`): pass --resume to continue it, or -o another directory", dir.display(), p.display())));
        }
        None
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut model = ModelConfig::new().with_seed(o.seed).init::<A>(&device);
    if let Some(w) = &o.init {
        load_weights(&mut model, &std::fs::read(w).map_err(|e| format!("{w}: {e}"))?, w)?;
    }
    let mut t = Trainer::new(model, o.config(), o.seed, device)?;
    if let Some(c) = &resume {
        let what = c.path.display().to_string();
        load_weights(&mut t.model, &c.model, &what)?;
        t.opt = AdamW::load(t.config.adamw.clone(), c.state.adam_t, &t.model, &c.optimizer).map_err(|e| format!("{what}: optimizer state: {e}"))?;
        t.step = c.state.step;
        t.draws = Rng::from_state(c.state.draws_rng);
        t.data_rng = Rng::from_state(c.state.data_rng);
    }
    let mut metrics = Metrics::open(&dir, o.jsonl, resume.as_ref().map(|c| c.state.step))?;
    println!("training `{MODEL_NAME}` (generated by archc); data: {}", data.describe());
    println!("{} steps from step {}, batch {} x {} micro-batch(es), lr {} (warmup {}, cosine to {}); run directory {}", o.steps, t.step + 1, o.batch, o.accum, o.lr, t.config.warmup, t.config.min_lr, dir.display());
    let every = o.log_every.unwrap_or((o.steps / 20).max(1)).max(1);
    let (start, from) = (Instant::now(), t.step);
    let mut tokens = 0usize;
    let mut last: Option<(u64, PathBuf)> = resume.as_ref().map(|c| (c.state.step, c.path.clone()));
    while t.step < o.steps {
        let step_start = Instant::now();
        let r = t.step(&data, o.batch).map_err(|Stop(code, e)| {
            let kept = match &last {
                Some((s, p)) => format!("the last good checkpoint is `{}` (step {s})", p.display()),
                None => "no checkpoint was written before it".to_string(),
            };
            Stop(code, format!("{e}; training stopped, {kept}"))
        })?;
        tokens += r.tokens;
        let elapsed = start.elapsed().as_secs_f64();
        let tps = r.tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
        metrics.write(&r, tps, elapsed)?;
        if r.step % every == 0 || r.step == o.steps || r.step == from + 1 {
            let heads: Vec<String> = r.losses.iter().map(|(h, l)| format!("{h} {l:.4}")).collect();
            eprintln!("step {}/{}  {} | {tps:.0} tok/s  lr {:.2e}", r.step, o.steps, heads.join("  "), r.lr);
        }
        if t.step == o.steps || (o.checkpoint_every > 0 && t.step % o.checkpoint_every == 0) {
            let state = State {
                format: checkpoint::FORMAT,
                model: MODEL_NAME.to_string(),
                ir_sha256: ir.clone(),
                step: t.step,
                adam_t: t.opt.t,
                seed: o.seed,
                draws_rng: t.draws.state(),
                data_rng: t.data_rng.state(),
                data: o.data.clone(),
                settings: o.settings(),
                files: BTreeMap::new(),
            };
            let p = checkpoint::write(&dir.join("checkpoints"), state, &save_weights(&t.model)?, &t.opt.save()?, o.keep).map_err(|e| e.to_string())?;
            last = Some((t.step, p));
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("done: {} steps in {elapsed:.1} s, {:.0} tokens/s", t.step - from, tokens as f64 / elapsed.max(1e-9));
    if let Some((_, p)) = &last {
        println!("checkpoint: {}", p.display());
    }
    println!("metrics:    {}", metrics.path.display());
    Ok(())
}

/// Whether checkpoint `c` may be continued with these options: the same data and
/// settings, and steps left to take.
fn resumable(o: &Options, c: &checkpoint::Loaded) -> Result<(), Stop> {
    let at = c.path.display();
    if c.state.data != o.data {
        return Err(Stop(2, format!("checkpoint `{at}` was trained with --data {}; resume it with the same data, not `{}`", c.state.data, o.data)));
    }
    let changed: Vec<String> = o
        .settings()
        .iter()
        .filter(|(k, v)| c.state.settings.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k} {} (now {v})", c.state.settings.get(k).map_or("unset", |s| s.as_str())))
        .collect();
    if !changed.is_empty() {
        return Err(Stop(2, format!("checkpoint `{at}` was trained with other settings: {}; resume with the same ones", changed.join(", "))));
    }
    if c.state.step >= o.steps {
        return Err(Stop(2, format!("checkpoint `{at}` is already at step {} of --steps {}; raise --steps to train further", c.state.step, o.steps)));
    }
    Ok(())
}

/// Per-step metrics, `archc train`'s columns, one line per step, flushed as written.
struct Metrics {
    path: PathBuf,
    jsonl: bool,
    file: std::fs::File,
}

impl Metrics {
    fn header() -> String {
        let mut h = vec!["step".to_string(), "loss".to_string()];
        h.extend(HEADS.iter().map(|x| format!("loss.{}", x.head)));
        h.extend(["lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"].map(String::from));
        h.extend(MASK_TOKENS.iter().map(|x| format!("mask_rate.{}", x.0)));
        h.extend(LOOPS.iter().map(|x| format!("passes.{x}")));
        h.join(",")
    }

    /// A new file, or (resuming) the old one cut back to steps <= `upto`.
    fn open(dir: &Path, jsonl: bool, upto: Option<u64>) -> Result<Self, String> {
        let path = dir.join(if jsonl { "metrics.jsonl" } else { "metrics.csv" });
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut kept = String::new();
        if !jsonl {
            kept.push_str(&Self::header());
            kept.push('\n');
        }
        if let Some(upto) = upto {
            for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                let step = if jsonl {
                    serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("step")?.as_u64())
                } else {
                    line.split(',').next().and_then(|s| s.parse().ok())
                };
                if step.is_some_and(|s| s <= upto) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
        }
        // Written beside the file and renamed over it, so a crash leaves one whole file.
        let tmp = dir.join(format!(".{}.tmp", if jsonl { "metrics.jsonl" } else { "metrics.csv" }));
        std::fs::write(&tmp, kept).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(err)?;
        Ok(Metrics { path, jsonl, file })
    }

    fn write(&mut self, r: &StepReport, tps: f64, elapsed: f64) -> Result<(), String> {
        let line = if self.jsonl {
            serde_json::json!({
                "step": r.step, "loss": r.total, "heads": r.losses, "lr": r.lr, "grad_norm": r.grad_norm,
                "tokens": r.tokens, "tokens_per_s": tps, "elapsed_s": elapsed, "mask_rates": r.rates, "passes": r.loop_steps,
            })
            .to_string()
        } else {
            let mut v = vec![r.step.to_string(), format!("{}", r.total)];
            v.extend(HEADS.iter().map(|h| r.losses.get(h.head).map_or(String::new(), |l| format!("{l}"))));
            v.extend([format!("{}", r.lr), format!("{}", r.grad_norm), r.tokens.to_string(), format!("{tps:.1}"), format!("{elapsed:.3}")]);
            v.extend(MASK_TOKENS.iter().map(|m| r.rates.get(m.0).map_or(String::new(), |x| format!("{x}"))));
            v.extend(LOOPS.iter().map(|l| r.loop_steps.get(*l).map_or(String::new(), |x| x.to_string())));
            v.join(",")
        };
        writeln!(self.file, "{line}").and_then(|()| self.file.flush()).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
