//! Training, as `archc train` does it (archc's docs/training.md): each step draws `accum`
//! micro-batches from the shards, draws the mask rates, masked rows and recurrence passes,
//! runs forward and backward, sums the gradients, clips them and takes one AdamW update at
//! the scheduled learning rate. Two generators (data and draws) seeded as archc seeds
//! them; a checkpoint stores their states, so a resumed run continues exactly, and runs
//! move between this crate and `archc train --resume` in both directions.

use archc_nn::checkpoint::{self, sha256, State};
use crate::data::Shards;
use archc_nn::rng::Rng;
use crate::model::{draws, heads, Model, ModelConfig, IR_YAML, LOOPS, MODEL_NAME};
use archc_nn::draws::draw_for_training;
use archc_nn::objectives::{check_trainable, head_losses};
use archc_nn::optim::{scheduled_lr, AdamW, AdamWConfig, Grads};
use archc_nn::params::Parameters;
use archc_nn::weights::{Saver, Weights};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The generator streams of a run, derived from its seed (archc's values).
pub const DATA_STREAM: u64 = 0xDA7A;
pub const DRAW_STREAM: u64 = 0xD4A3;

/// `train`'s options: `archc train`'s names and defaults. A setting left out (`None`) is
/// its default in a new run and the checkpoint's in a resumed one.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `shards:PATH` (or PATH): archc's multimodal shards, as `archc data` writes them.
    pub data: Option<String>,
    /// The step the run ends at.
    pub steps: u64,
    pub batch: Option<usize>,
    pub accum: Option<usize>,
    pub lr: Option<f64>,
    pub min_lr: Option<f64>,
    pub warmup: Option<u64>,
    /// The schedule's length (default: `steps` of the run's start).
    pub horizon: Option<u64>,
    pub clip: Option<f64>,
    pub weight_decay: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub eps: Option<f64>,
    pub seed: Option<u64>,
    /// Starting weights (safetensors by `.arch` name) instead of the seeded ones.
    pub init: Option<String>,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub checkpoint_every: u64,
    pub keep: usize,
    pub jsonl: bool,
    pub log_every: Option<u64>,
}

pub const USAGE: &str = "train --data shards:PATH [--steps N] [--batch N] [--accum N] [--lr X] [--min-lr X] [--warmup N] [--horizon N] [--clip X] [--weight-decay X] [--beta1 X] [--beta2 X] [--eps X] [--seed N] [--init WEIGHTS] [-o DIR] [--resume] [--checkpoint-every K] [--keep N] [--metrics csv|jsonl] [--log-every N]";

fn value<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: `{v}` is not a valid value"))
}

impl Options {
    /// Parses the arguments after `train`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options { steps: 1000, checkpoint_every: 50, keep: 2, ..Options::default() };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let flag = flag.as_str();
            match flag {
                "--data" => o.data = Some(value(flag, it.next())?),
                "--steps" => o.steps = value(flag, it.next())?,
                "--batch" => o.batch = Some(value(flag, it.next())?),
                "--accum" => o.accum = Some(value(flag, it.next())?),
                "--lr" => o.lr = Some(value(flag, it.next())?),
                "--min-lr" => o.min_lr = Some(value(flag, it.next())?),
                "--warmup" => o.warmup = Some(value(flag, it.next())?),
                "--horizon" => o.horizon = Some(value(flag, it.next())?),
                "--clip" => o.clip = Some(value(flag, it.next())?),
                "--weight-decay" => o.weight_decay = Some(value(flag, it.next())?),
                "--beta1" => o.beta1 = Some(value(flag, it.next())?),
                "--beta2" => o.beta2 = Some(value(flag, it.next())?),
                "--eps" => o.eps = Some(value(flag, it.next())?),
                "--seed" => o.seed = Some(value(flag, it.next())?),
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
        if let Some(d) = o.data.as_mut().filter(|d| !d.starts_with("shards:")) {
            *d = format!("shards:{d}");
        }
        if o.data.is_none() && !o.resume {
            return Err("--data is required: archc shards (`archc data FILE -o shard.safetensors` writes archc's built-in task)".into());
        }
        o.check()?;
        Ok(o)
    }

    fn check(&self) -> Result<(), String> {
        let zero = |v: Option<usize>| v == Some(0);
        if self.steps == 0 || zero(self.batch) || zero(self.accum) || self.horizon == Some(0) {
            return Err("--steps, --batch, --accum and --horizon must be at least 1".into());
        }
        for (name, v) in [("--lr", self.lr), ("--eps", self.eps)] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        for (name, v) in [("--clip", self.clip), ("--weight-decay", self.weight_decay), ("--min-lr", self.min_lr)] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(format!("{name} must be a number >= 0, not {v}"));
            }
        }
        for (name, v) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if let Some(v) = v.filter(|v| !(0.0..1.0).contains(v)) {
                return Err(format!("{name} must be in [0, 1), not {v}"));
            }
        }
        Ok(())
    }
}

/// A run's settings, resolved once when it starts and stored in its checkpoints with
/// `archc train`'s keys and spelling (shards fix the sequence, so `seq` is always unset).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub batch: usize,
    pub accum: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: u64,
    pub horizon: u64,
    pub clip: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Settings {
    /// A new run's: each option or its default (horizon: `steps`; warmup: a tenth of the
    /// horizon, at most 100; min_lr: lr / 10).
    pub fn new(o: &Options) -> Settings {
        let lr = o.lr.unwrap_or(1e-3);
        let horizon = o.horizon.unwrap_or(o.steps);
        Settings {
            batch: o.batch.unwrap_or(8),
            accum: o.accum.unwrap_or(1),
            lr,
            min_lr: o.min_lr.unwrap_or(lr / 10.0),
            warmup: o.warmup.unwrap_or((horizon / 10).min(100)),
            horizon,
            clip: o.clip.unwrap_or(1.0),
            weight_decay: o.weight_decay.unwrap_or(1e-2),
            beta1: o.beta1.unwrap_or(0.9),
            beta2: o.beta2.unwrap_or(0.999),
            eps: o.eps.unwrap_or(1e-8),
        }
    }

    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("batch".into(), self.batch.to_string()),
            ("seq".into(), format!("{:?}", None::<usize>)),
            ("accum".into(), self.accum.to_string()),
            ("lr".into(), self.lr.to_string()),
            ("min_lr".into(), self.min_lr.to_string()),
            ("warmup".into(), self.warmup.to_string()),
            ("horizon".into(), self.horizon.to_string()),
            ("clip".into(), self.clip.to_string()),
            ("weight_decay".into(), self.weight_decay.to_string()),
            ("betas".into(), format!("{} {}", self.beta1, self.beta2)),
            ("eps".into(), self.eps.to_string()),
        ])
    }

    /// A resumed run's: the checkpoint's (a checkpoint without a horizon takes the new
    /// end), each option given checked against them; Err names each that differs.
    pub fn resumed(o: &Options, m: &BTreeMap<String, String>) -> Result<Settings, String> {
        fn get<T: std::str::FromStr>(m: &BTreeMap<String, String>, k: &str) -> Result<T, String> {
            let v = m.get(k).ok_or_else(|| format!("its settings have no `{k}`"))?;
            v.parse().map_err(|_| format!("its setting `{k}` is `{v}`, which this crate cannot read"))
        }
        if m.get("seq").is_some_and(|s| s != "None") {
            return Err("it was trained with --seq, which shards do not take".into());
        }
        let betas: String = get(m, "betas")?;
        let (beta1, beta2) = betas
            .split_once(' ')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| format!("its setting `betas` is `{betas}`, which this crate cannot read"))?;
        let stored_horizon = m.get("horizon").and_then(|h| h.parse().ok());
        let s = Settings {
            batch: get(m, "batch")?,
            accum: get(m, "accum")?,
            lr: get(m, "lr")?,
            min_lr: get(m, "min_lr")?,
            warmup: get(m, "warmup")?,
            horizon: stored_horizon.unwrap_or(o.horizon.unwrap_or(o.steps)),
            clip: get(m, "clip")?,
            weight_decay: get(m, "weight_decay")?,
            beta1,
            beta2,
            eps: get(m, "eps")?,
        };
        let mut differ = Vec::new();
        let mut check = |flag: &str, given: Option<String>, ours: String| {
            if let Some(v) = given.filter(|v| *v != ours) {
                differ.push(format!("{flag} {v} (the run's is {ours})"));
            }
        };
        check("--batch", o.batch.map(|v| v.to_string()), s.batch.to_string());
        check("--accum", o.accum.map(|v| v.to_string()), s.accum.to_string());
        check("--lr", o.lr.map(|v| v.to_string()), s.lr.to_string());
        check("--min-lr", o.min_lr.map(|v| v.to_string()), s.min_lr.to_string());
        check("--warmup", o.warmup.map(|v| v.to_string()), s.warmup.to_string());
        if stored_horizon.is_some() {
            check("--horizon", o.horizon.map(|v| v.to_string()), s.horizon.to_string());
        }
        check("--clip", o.clip.map(|v| v.to_string()), s.clip.to_string());
        check("--weight-decay", o.weight_decay.map(|v| v.to_string()), s.weight_decay.to_string());
        check("--beta1", o.beta1.map(|v| v.to_string()), s.beta1.to_string());
        check("--beta2", o.beta2.map(|v| v.to_string()), s.beta2.to_string());
        check("--eps", o.eps.map(|v| v.to_string()), s.eps.to_string());
        if differ.is_empty() {
            Ok(s)
        } else {
            Err(differ.join(", "))
        }
    }

    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            horizon: self.horizon,
            accum: self.accum,
            adamw: AdamWConfig { lr: self.lr, beta1: self.beta1, beta2: self.beta2, eps: self.eps, weight_decay: self.weight_decay },
            min_lr: self.min_lr,
            warmup: self.warmup,
            clip: self.clip,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// The schedule's length: cosine to `min_lr` at this step, `min_lr` after it.
    pub horizon: u64,
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
        check_trainable(&heads())?;
        Ok(Trainer { model, opt: AdamW::new(config.adamw.clone()), config, step: 0, draws: Rng::new(seed ^ DRAW_STREAM), data_rng: Rng::new(seed ^ DATA_STREAM), device })
    }

    /// One optimizer step; on error the model and optimizer are as before it.
    pub fn step(&mut self, data: &Shards, batch: usize) -> Result<StepReport, Stop> {
        let next = self.step + 1;
        let c = &self.config;
        let lr = scheduled_lr(next, c.adamw.lr, c.min_lr, c.warmup, c.horizon);
        let accum = c.accum.max(1);
        let mut grads = Grads::default();
        let mut r = StepReport { step: next, lr, ..StepReport::default() };
        for _ in 0..accum {
            let mut b = data.next_batch::<A>(batch, &mut self.data_rng, &self.device);
            r.tokens += b.batch_size() * b.layout.iter().map(|(_, n)| n).sum::<usize>();
            r.rates = draw_for_training(&draws(), &mut b, &mut self.draws).rates;
            let out = self.model.forward(&b)?;
            r.loop_steps = out.loop_steps.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let model = &self.model;
            let losses = head_losses(&heads(), &out.heads, &b, |h| model.diffusion(h), &mut self.draws)?;
            let mut sum: Option<Tensor<A, 1>> = None;
            for h in losses {
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
                grads.accumulate(&self.model, &g, 1.0 / accum as f64);
            }
        }
        r.grad_norm = if self.config.clip > 0.0 { grads.clip(self.config.clip) } else { grads.norm() };
        if !r.grad_norm.is_finite() {
            return Err(Stop(3, format!("step {next}: the gradient norm is {}", r.grad_norm)));
        }
        self.model = self.opt.step(self.model.clone(), &grads, lr);
        self.step = next;
        Ok(r)
    }
}

/// The weights as safetensors bytes, by `.arch` name.
pub fn save_weights<A: AutodiffBackend>(model: &Model<A>) -> Vec<u8> {
    let mut saver = Saver::default();
    let Ok(()) = model.clone().visit_params(&mut saver);
    saver.to_bytes()
}

fn load_weights<A: AutodiffBackend>(model: &mut Model<A>, bytes: &[u8], what: &str) -> Result<(), String> {
    let mut w = Weights::from_bytes(bytes).map_err(|e| format!("{what}: {e}"))?;
    model.visit_params(&mut w).map_err(|e| format!("{what}: {e}"))?;
    w.finish().map_err(|e| format!("{what}: {e}"))
}

/// The SHA-256 of the model's IR (`ir.yaml`, as `archc build` writes it): the
/// architecture a checkpoint belongs to.
pub fn ir_sha256() -> String {
    sha256(IR_YAML.as_bytes())
}

/// Trains on `device`, writing DIR/metrics.csv (or .jsonl) and checkpoints as
/// `archc train` does.
pub fn train<A: AutodiffBackend>(o: &Options, device: A::Device) -> Result<(), Stop> {
    let dir = o.out.clone().unwrap_or_else(|| Path::new("runs").join(MODEL_NAME));
    let ir = ir_sha256();
    // One writer per run directory: the lock is held until this function returns.
    let begun = checkpoint::begin(&dir, o.resume, MODEL_NAME, &ir).map_err(|e| e.to_string())?;
    if let Some(note) = &begun.note {
        eprintln!("warning: {note}");
    }
    let (resume, set, data_arg, seed) = match begun.resume {
        Some(c) => {
            let (set, data, seed) = resumable(o, &c)?;
            (Some(c), set, data, seed)
        }
        None => (None, Settings::new(o), o.data.clone().unwrap_or_default(), o.seed.unwrap_or(0)),
    };
    let data = Shards::open(data_arg.strip_prefix("shards:").unwrap_or(&data_arg))?;
    let mut model = ModelConfig::new().with_seed(seed).init::<A>(&device);
    if let Some(w) = &o.init {
        load_weights(&mut model, &std::fs::read(w).map_err(|e| format!("{w}: {e}"))?, w)?;
    }
    let mut t = Trainer::new(model, set.config(), seed, device)?;
    if let Some(c) = &resume {
        let what = c.path.display().to_string();
        load_weights(&mut t.model, &c.model, &what)?;
        t.opt = AdamW::load(t.config.adamw.clone(), c.state.adam_t, &t.model, &c.optimizer, &t.device).map_err(|e| format!("{what}: optimizer state: {e}"))?;
        t.step = c.state.step;
        t.draws = Rng::from_state(c.state.draws_rng);
        t.data_rng = Rng::from_state(c.state.data_rng);
    }
    let mut metrics = Metrics::open(&dir, o.jsonl, resume.as_ref().map(|c| c.state.step))?;
    println!("training `{MODEL_NAME}` (generated by archc); data: {}", data.describe());
    println!("steps {} to {}, batch {} x {} micro-batch(es), lr {} (warmup {}, cosine to {} at step {}); run directory {}", t.step + 1, o.steps, set.batch, set.accum, set.lr, set.warmup, set.min_lr, set.horizon, dir.display());
    if o.steps > set.horizon {
        println!("note: steps {} to {} lie past the schedule's horizon (step {}): they train at its final learning rate {}", (set.horizon + 1).max(t.step + 1), o.steps, set.horizon, set.min_lr);
    }
    let every = o.log_every.unwrap_or((o.steps / 20).max(1)).max(1);
    let (start, from) = (Instant::now(), t.step);
    let mut tokens = 0usize;
    let mut last: Option<(u64, PathBuf)> = resume.as_ref().map(|c| (c.state.step, c.path.clone()));
    while t.step < o.steps {
        let step_start = Instant::now();
        let r = t.step(&data, set.batch).map_err(|Stop(code, e)| {
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
                seed,
                draws_rng: t.draws.state(),
                data_rng: t.data_rng.state(),
                data: data_arg.clone(),
                settings: set.to_map(),
                files: BTreeMap::new(),
                checksum: String::new(),
            };
            let p = checkpoint::write(&dir.join("checkpoints"), state, &save_weights(&t.model), &t.opt.save(), o.keep).map_err(|e| e.to_string())?;
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

/// What a resumed run continues with: the checkpoint's settings, data and seed; an
/// option given again must agree (the refusal names it), and `--steps` must go further.
fn resumable(o: &Options, c: &checkpoint::Loaded) -> Result<(Settings, String, u64), Stop> {
    let at = c.path.display();
    let mut differ = Vec::new();
    if let Some(d) = o.data.as_ref().filter(|d| **d != c.state.data) {
        differ.push(format!("--data {d} (the run's is {})", c.state.data));
    }
    if let Some(s) = o.seed.filter(|s| *s != c.state.seed) {
        differ.push(format!("--seed {s} (the run's is {})", c.state.seed));
    }
    let set = match Settings::resumed(o, &c.state.settings) {
        Ok(s) => Some(s),
        Err(e) if e.starts_with("--") => {
            differ.push(e);
            None
        }
        Err(e) => return Err(Stop(2, format!("checkpoint `{at}`: {e}"))),
    };
    if !differ.is_empty() {
        return Err(Stop(2, format!("checkpoint `{at}` continues a run with other settings than the flags given: {}; leave those flags out to keep the run's", differ.join(", "))));
    }
    if c.state.step >= o.steps {
        return Err(Stop(2, format!("checkpoint `{at}` is already at step {} of --steps {}; raise --steps to train further", c.state.step, o.steps)));
    }
    Ok((set.expect("set when nothing differs"), c.state.data.clone(), c.state.seed))
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
        h.extend(heads().iter().map(|x| format!("loss.{}", x.head)));
        h.extend(["lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"].map(String::from));
        h.extend(draws().mask_tokens.iter().map(|x| format!("mask_rate.{}", x.modality)));
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
            // Well-formed lines of steps 1..=upto, each once; a step without one is said.
            let cells = Self::header().split(',').count();
            let mut seen = std::collections::BTreeSet::new();
            for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                let step = if jsonl {
                    serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v.get("step")?.as_u64())
                } else if line.split(',').count() == cells {
                    line.split(',').next().and_then(|s| s.parse().ok())
                } else {
                    None
                };
                if step.is_some_and(|s| s >= 1 && s <= upto && seen.insert(s)) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            if seen.len() as u64 != upto {
                eprintln!("warning: `{}` has lines for {} of the {upto} steps before the checkpoint (cut short or edited since): the others stay missing; the run continues from step {}", path.display(), seen.len(), upto + 1);
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
            v.extend(heads().iter().map(|h| r.losses.get(&h.head).map_or(String::new(), |l| format!("{l}"))));
            v.extend([format!("{}", r.lr), format!("{}", r.grad_norm), r.tokens.to_string(), format!("{tps:.1}"), format!("{elapsed:.3}")]);
            v.extend(draws().mask_tokens.iter().map(|m| r.rates.get(&m.modality).map_or(String::new(), |x| format!("{x}"))));
            v.extend(LOOPS.iter().map(|l| r.loop_steps.get(*l).map_or(String::new(), |x| x.to_string())));
            v.join(",")
        };
        writeln!(self.file, "{line}").and_then(|()| self.file.flush()).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}
