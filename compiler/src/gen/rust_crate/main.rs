//! `CRATE_NAME train --data SOURCE [options]`: trains as `archc train` does — through
//! archc-nn's trainer, data readers, metrics and checkpoint format, which `archc train`
//! uses too (`CRATE_NAME train --help` lists the options). A run moves between this crate
//! and `archc train --resume` in both directions.
//!
//! `CRATE_NAME forward WEIGHTS BATCH OUT`: loads the weights (safetensors, `.arch` names),
//! runs the model on a batch (a safetensors file: `<stem>.ids` i64 `[b, n]`,
//! `<stem>.features` f32 `[b, n, dim]`, `<stem>.masked` i64 0/1 `[b, n]`, metadata `layout`
//! "stem:n,..."), and writes each head's output and each loop's passes (`steps.<loop>`).

use archc_nn::batch::Batch;
use archc_nn::checkpoint::{self, sha256};
use archc_nn::data::{self, DataSpec};
use archc_nn::metrics::{Columns, Metrics, MetricsFormat};
use archc_nn::settings::{resumable, Given, Settings};
use archc_nn::train::{kept, load_weights, Run, TrainError, TrainModel, Trainer};
use archc_nn::weights::Saver;
use burn::backend::ndarray::NdArrayDevice;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use CRATE_NAME::model::{stems, ModelConfig, IR_YAML, MODEL_NAME};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type B = NdArray<f32>;

/// Why the program stopped: the exit code (2 usage, IO, data or checkpoint; 3 a loss or
/// the gradient norm became NaN or infinite) and the message.
struct Stop(u8, String);

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop(2, e)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let me = args.first().map_or("model", |s| s.as_str());
    let result = match args.get(1).map(String::as_str) {
        Some("forward") if args.len() == 5 => forward(&args[2], &args[3], &args[4]).map_err(Stop::from),
        Some("train") if args.iter().any(|a| a == "--help" || a == "-h") => {
            println!("usage: {me} {USAGE}");
            Ok(())
        }
        Some("train") => Options::parse(&args[2..]).map_err(Stop::from).and_then(|o| train::<Autodiff<B>>(&o, NdArrayDevice::Cpu)),
        _ => Err(Stop(2, format!("usage: {me} {USAGE}\n       {me} forward WEIGHTS BATCH OUT"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop(code, e)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

const USAGE: &str = "train --data SOURCE [--steps N] [--batch N] [--seq N] [--accum N] [--lr X] [--min-lr X] [--warmup N] [--horizon N] [--clip X] [--weight-decay X] [--beta1 X] [--beta2 X] [--eps X] [--seed N] [--init WEIGHTS] [-o DIR] [--resume] [--checkpoint-every K] [--keep N] [--metrics csv|jsonl] [--log-every N]\n  SOURCE: shards:PATH (or PATH), synthetic[:OPTIONS], text:PATH, bin:PATH[:u16|u32] (archc's docs/data.md)";

/// `train`'s options: `archc train`'s names and defaults. A setting left out (`None`) is
/// its default in a new run and the checkpoint's in a resumed one.
struct Options {
    data: Option<String>,
    /// The step the run ends at.
    steps: u64,
    given: Given,
    seed: Option<u64>,
    /// Starting weights (safetensors by `.arch` name) instead of the seeded ones.
    init: Option<String>,
    out: Option<PathBuf>,
    resume: bool,
    checkpoint_every: u64,
    keep: usize,
    metrics: MetricsFormat,
    log_every: Option<u64>,
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: `{v}` is not a valid value"))
}

impl Options {
    /// Parses the arguments after `train`.
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options { data: None, steps: 1000, given: Given::default(), seed: None, init: None, out: None, resume: false, checkpoint_every: 50, keep: 2, metrics: MetricsFormat::Csv, log_every: None };
        let g = &mut o.given;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let flag = flag.as_str();
            match flag {
                "--data" => o.data = Some(value(flag, it.next())?),
                "--steps" => o.steps = value(flag, it.next())?,
                "--batch" => g.batch = Some(value(flag, it.next())?),
                "--seq" => g.seq = Some(value(flag, it.next())?),
                "--accum" => g.accum = Some(value(flag, it.next())?),
                "--lr" => g.lr = Some(value(flag, it.next())?),
                "--min-lr" => g.min_lr = Some(value(flag, it.next())?),
                "--warmup" => g.warmup = Some(value(flag, it.next())?),
                "--horizon" => g.horizon = Some(value(flag, it.next())?),
                "--clip" => g.clip = Some(value(flag, it.next())?),
                "--weight-decay" => g.weight_decay = Some(value(flag, it.next())?),
                "--beta1" => g.beta1 = Some(value(flag, it.next())?),
                "--beta2" => g.beta2 = Some(value(flag, it.next())?),
                "--eps" => g.eps = Some(value(flag, it.next())?),
                "--seed" => o.seed = Some(value(flag, it.next())?),
                "--init" => o.init = Some(value(flag, it.next())?),
                "-o" | "--out" => o.out = Some(value::<String>(flag, it.next())?.into()),
                "--checkpoint-every" => o.checkpoint_every = value(flag, it.next())?,
                "--keep" => o.keep = value(flag, it.next())?,
                "--metrics" => o.metrics = value::<String>(flag, it.next())?.parse().map_err(|e| format!("--metrics: {e}"))?,
                "--log-every" => o.log_every = Some(value(flag, it.next())?),
                "--resume" => o.resume = true,
                other => return Err(format!("unknown option `{other}`; usage: {USAGE}")),
            }
        }
        // Recorded as `archc train` spells it, so a run resumes in either.
        let kinds = ["shards:", "synthetic", "text:", "bin:"];
        if let Some(d) = o.data.as_mut().filter(|d| !kinds.iter().any(|k| d.starts_with(k))) {
            *d = format!("shards:{d}");
        }
        if o.data.is_none() && !o.resume {
            return Err("--data is required: archc shards (`archc data FILE -o shard.safetensors` writes archc's built-in task), or `synthetic` for that task itself".into());
        }
        o.given.check(o.steps)?;
        Ok(o)
    }
}

/// Trains on `device`, writing DIR/metrics.csv (or .jsonl) and checkpoints as
/// `archc train` does.
fn train<A: AutodiffBackend>(o: &Options, device: A::Device) -> Result<(), Stop> {
    let dir = o.out.clone().unwrap_or_else(|| Path::new("runs").join(MODEL_NAME));
    let ir_sha256 = sha256(IR_YAML.as_bytes());
    // One writer per run directory: the lock is held until this function returns.
    let begun = checkpoint::begin(&dir, o.resume, MODEL_NAME, &ir_sha256).map_err(|e| e.to_string())?;
    if let Some(note) = &begun.note {
        eprintln!("warning: {note}");
    }
    let (set, data_arg, seed) = match &begun.resume {
        Some(c) => resumable(&o.given, o.data.as_deref(), o.seed, o.steps, c)?,
        None => (Settings::new(&o.given, o.steps), o.data.clone().unwrap_or_default(), o.seed.unwrap_or(0)),
    };
    let spec = DataSpec { stems: stems(), batch: set.batch, text_len: set.seq };
    let mut source = data::open(&data_arg, &spec).map_err(|e| e.to_string())?;
    let mut model = ModelConfig::new().with_seed(seed).init::<A>(&device);
    if let Some(w) = &o.init {
        let bytes = std::fs::read(w).map_err(|e| format!("{w}: {e}"))?;
        load_weights(&mut model, &bytes).map_err(|e| format!("{w}: {e}"))?;
    }
    let mut t = Trainer::new(model, set.config(), seed, device)?;
    if let Some(c) = &begun.resume {
        t.resume(c)?;
    }
    let cols = Columns::of(&t.model.heads(), &t.model.draws(), t.model.loops());
    let resumed_at = begun.resume.as_ref().map(|c| c.state.step);
    let (mut metrics, gap) = Metrics::open(&dir, o.metrics, cols, resumed_at).map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Some(gap) = gap {
        eprintln!("warning: {gap}");
    }
    println!("training `{MODEL_NAME}` (generated by archc); data: {}", source.describe());
    println!("{}", set.describe(t.step, o.steps, &dir));
    if let Some(note) = set.past_horizon(t.step, o.steps) {
        println!("note: {note}");
    }
    let run = Run { model: MODEL_NAME.to_string(), ir_sha256, seed, data: data_arg, settings: set.to_map() };
    let every = o.log_every.unwrap_or((o.steps / 20).max(1)).max(1);
    let (start, from) = (Instant::now(), t.step);
    let mut tokens = 0usize;
    let mut last: Option<(u64, PathBuf)> = begun.resume.as_ref().map(|c| (c.state.step, c.path.clone()));
    while t.step < o.steps {
        let step_start = Instant::now();
        let r = t.step(source.as_mut()).map_err(|e| match e {
            TrainError::NonFinite { .. } => Stop(3, format!("{e}; training stopped, {}", kept(&last))),
            e => Stop(2, format!("{e}; {}", kept(&last))),
        })?;
        tokens += r.tokens;
        let elapsed = start.elapsed().as_secs_f64();
        let tps = r.tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
        metrics.write(&r, tps, elapsed).map_err(|e| format!("{}: {e}", metrics.path.display()))?;
        if r.step % every == 0 || r.step == o.steps || r.step == from + 1 {
            let heads: Vec<String> = r.losses.iter().map(|(h, l)| format!("{h} {l:.4}")).collect();
            eprintln!("step {}/{}  {} | {tps:.0} tok/s  lr {:.2e}", r.step, o.steps, heads.join("  "), r.lr);
        }
        if t.step == o.steps || (o.checkpoint_every > 0 && t.step % o.checkpoint_every == 0) {
            let p = t.checkpoint(&dir.join("checkpoints"), &run, o.keep).map_err(|e| match e {
                checkpoint::CheckpointError::NonFinite { .. } => Stop(3, format!("{e}; training stopped")),
                e => Stop(2, e.to_string()),
            })?;
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

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn batch(bytes: &[u8], device: &NdArrayDevice) -> Result<Batch<B>, String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let layout = meta.metadata().as_ref().and_then(|m| m.get("layout")).ok_or("the batch has no `layout` metadata")?;
    let mut segments = Vec::new();
    for seg in layout.split(',') {
        let (stem, n) = seg.split_once(':').ok_or_else(|| format!("bad layout segment `{seg}`"))?;
        segments.push((stem.to_string(), n.parse::<usize>().map_err(|_| format!("bad layout segment `{seg}`"))?));
    }
    let mut out = Batch::new(segments);
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    for (name, view) in st.tensors() {
        let (stem, kind) = name.rsplit_once('.').ok_or_else(|| format!("tensor `{name}` is not `<stem>.<kind>`"))?;
        let shape = view.shape().to_vec();
        match (kind, shape.as_slice()) {
            ("ids" | "masked", [b, n]) => {
                let v: Vec<i64> = view.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
                let t = Tensor::<B, 2, Int>::from_data(TensorData::new(v, [*b, *n]), device);
                if kind == "ids" {
                    out.ids.insert(stem.to_string(), t);
                } else {
                    out.masked.insert(stem.to_string(), t.equal_elem(1));
                }
            }
            ("features", [b, n, d]) => {
                let v: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
                out.features.insert(stem.to_string(), Tensor::from_data(TensorData::new(v, [*b, *n, *d]), device));
            }
            _ => return Err(format!("tensor `{name}` of shape {shape:?} is not a batch input")),
        }
    }
    Ok(out)
}

fn forward(weights: &str, batch_path: &str, out: &str) -> Result<(), String> {
    let device = Default::default();
    let mut model = ModelConfig::new().init::<B>(&device);
    load_weights(&mut model, &read(weights)?).map_err(|e| e.to_string())?;
    let b = batch(&read(batch_path)?, &device)?;
    let output = model.forward(&b)?;
    let mut saver = Saver::default();
    for (head, t) in output.heads {
        saver.put(head, t);
    }
    for (l, n) in output.loop_steps {
        saver.put_raw(format!("steps.{l}"), vec![1], vec![n as f32]);
    }
    std::fs::write(out, saver.to_bytes()).map_err(|e| format!("{out}: {e}"))
}
