//! `archc train`: trains a model on the built-in task or a data file (docs/training.md),
//! with a progress bar, per-step metrics, checkpoints every K steps and at the end, and a
//! loss curve. Exit 0 done, 1 the file has diagnostics, 2 usage, IO, data or a bad
//! checkpoint, 3 a loss or gradient became NaN or infinite (the last good checkpoint is
//! kept).

use crate::budget::{guard, MemoryArgs, Shrink};
use crate::summary::thousands;
use crate::Instantiate;
use archc::graph::ArchGraph;
use archc_runtime::checkpoint::{self, sha256};
use archc_runtime::data;
use archc_runtime::device::{cuda_available, parse_device, DeviceChoice};
use archc_runtime::eval::{Accuracy, AnswerSet};
use archc_runtime::metrics::{read_losses, Columns, Metrics, MetricsFormat};
use archc_runtime::model::graph_to_model_seeded;
use archc_runtime::settings::{resumable, Given, Settings};
use archc_runtime::train::{
    data_spec, kept, trainer, Run, StepReport, TrainError, TrainModel, Trainer,
};
use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// A `.arch` file, or an IR written by `archc build` (`.yaml`).
    file: PathBuf,
    #[command(flatten)]
    inst: Instantiate,
    /// `synthetic[:entities=N,hops=H,queries=Q,noise=X]`, `text:PATH`, `bin:PATH[:u16|u32]`
    /// or `shards:PATH` (docs/data.md). Default: synthetic (a resumed run: its own).
    #[arg(long)]
    data: Option<String>,
    /// The step the run ends at (a resumed run continues to it).
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Sequences per micro-batch [default: 8].
    #[arg(long)]
    batch: Option<usize>,
    /// The longest text segment (default: the text stem's max_len).
    #[arg(long)]
    seq: Option<usize>,
    /// Micro-batches per step (gradient accumulation) [default: 1].
    #[arg(long)]
    accum: Option<usize>,
    /// Peak learning rate [default: 0.001, PyTorch AdamW's].
    #[arg(long)]
    lr: Option<f64>,
    /// Where the cosine ends (default: lr / 10).
    #[arg(long)]
    min_lr: Option<f64>,
    /// Linear warmup steps (default: a tenth of the horizon, at most 100).
    #[arg(long)]
    warmup: Option<u64>,
    /// The schedule's length: cosine from the peak down to --min-lr at this step, and
    /// --min-lr after it (default: --steps of the run's start; a run resumed to more steps
    /// trains its extra steps at --min-lr unless it was started with a longer horizon).
    #[arg(long, value_name = "STEPS")]
    horizon: Option<u64>,
    /// Clip the global gradient norm to this; 0 for no clipping [default: 1].
    #[arg(long)]
    clip: Option<f64>,
    /// AdamW's decoupled weight decay on matrices and embeddings [default: 0.01, PyTorch's].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// [default: 0.9]
    #[arg(long)]
    beta1: Option<f64>,
    /// [default: 0.999]
    #[arg(long)]
    beta2: Option<f64>,
    /// [default: 1e-8]
    #[arg(long)]
    eps: Option<f64>,
    /// Seeds the parameters, the data and every training draw [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
    /// The run's directory (default: `runs/<model>`).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Write a checkpoint every K steps (and always at the end); 0 for the end only.
    #[arg(long, default_value_t = 50, value_name = "K")]
    checkpoint_every: u64,
    /// Checkpoints kept (the newest).
    #[arg(long, default_value_t = 2)]
    keep: usize,
    /// `csv` or `jsonl`.
    #[arg(long, default_value = "csv", value_parser = str::parse::<MetricsFormat>)]
    metrics: MetricsFormat,
    /// Without a terminal, print a line every N steps (default: about 20 lines a run).
    #[arg(long)]
    log_every: Option<u64>,
    #[command(flatten)]
    memory: MemoryArgs,
    /// On the built-in task, score the answers on held-out examples every K steps (and at
    /// the end); 0 for the end only. Default: 10 times a run.
    #[arg(long, value_name = "K")]
    eval_every: Option<u64>,
    /// Held-out examples of the built-in task scored each time.
    #[arg(long, default_value_t = 256)]
    eval_examples: usize,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn train(args: &TrainArgs) -> ExitCode {
    match try_train(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

impl TrainArgs {
    /// The settings flags as given.
    fn given(&self) -> Given {
        Given {
            batch: self.batch,
            seq: self.seq,
            accum: self.accum,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup: self.warmup,
            horizon: self.horizon,
            clip: self.clip,
            weight_decay: self.weight_decay,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }
}

/// Everything a run needs that does not depend on the backend.
struct Job<'a> {
    /// The run directory's lock (crate::checkpoint::begin), held while the run lives.
    _lock: checkpoint::RunLock,
    args: &'a TrainArgs,
    graph: ArchGraph,
    dir: PathBuf,
    resume: Option<checkpoint::Loaded>,
    /// The run's settings: from the flags, or (resuming) the checkpoint.
    settings: Settings,
    /// What its checkpoints record: model, IR, seed, data and settings.
    run: Run,
    /// The memory the run was estimated to need.
    need: u128,
}

fn try_train(args: &TrainArgs) -> Result<(), ExitCode> {
    args.given().check(args.steps).map_err(fail)?;
    if let DeviceChoice::Cuda(i) = args.device {
        cuda_available(i).map_err(fail)?;
    }
    let graph = crate::build::load_graph(&args.file, &args.inst)?;
    let ir_sha256 = sha256(archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph)).as_bytes());
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(&graph.name));
    if !args.resume {
        // Before the run directory is made; a resumed run is admitted on its own settings.
        admit(
            &graph,
            &Settings::new(&args.given(), args.steps),
            &args.memory,
        )
        .map_err(fail)?;
    }
    // One writer per run directory: the lock is held until this process ends.
    let begun = checkpoint::begin(&dir, args.resume, &graph.name, &ir_sha256).map_err(fail)?;
    if let Some(note) = &begun.note {
        eprintln!("warning: {note}");
    }
    let (resume, settings, data, seed) = match begun.resume {
        Some(loaded) => {
            let (settings, data, seed) = resumable(
                &args.given(),
                args.data.as_deref(),
                args.seed,
                args.steps,
                &loaded,
            )
            .map_err(fail)?;
            (Some(loaded), settings, data, seed)
        }
        None => {
            let data = args.data.clone().unwrap_or_else(|| "synthetic".into());
            (
                None,
                Settings::new(&args.given(), args.steps),
                data,
                args.seed.unwrap_or(0),
            )
        }
    };
    let need = admit(&graph, &settings, &args.memory).map_err(fail)?;
    let spec = data_spec(&graph, settings.batch, settings.seq);
    let rows: Vec<(&str, u64)> = spec.per_stem().map(|(n, r, _)| (n, r)).collect();
    let cost = crate::budget::step_cost(
        &graph,
        archc::analyze::Job::Train,
        &rows,
        settings.batch as u64,
        &need,
        Some(args.steps),
    );
    if let Some(line) = cost {
        eprintln!("note: {line}");
    }
    let need = need.total();
    let job = Job {
        _lock: begun.lock,
        args,
        run: Run {
            model: graph.name.clone(),
            ir_sha256,
            seed,
            data,
            settings: settings.to_map(),
        },
        graph,
        dir,
        resume,
        settings,
        need,
    };
    match args.device {
        DeviceChoice::Cpu => {
            use burn::backend::{ndarray::NdArrayDevice, Autodiff, NdArray};
            train_on::<Autodiff<NdArray<f32>>>(&job, NdArrayDevice::Cpu, "cpu (ndarray)")
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(i) => {
            use archc_runtime::device::{cuda_device, Cuda};
            train_on::<burn::backend::Autodiff<Cuda>>(&job, cuda_device(i), &format!("cuda:{i}"))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(_) => Err(fail(archc_runtime::device::NO_CUDA_BUILD)),
    }
}

/// Refuses a run whose estimated memory (parameters, gradients, AdamW, checkpoint copies
/// and one micro-batch's activations) exceeds what there is (crate::budget).
pub fn admit(
    g: &ArchGraph,
    s: &Settings,
    memory: &MemoryArgs,
) -> Result<archc::analyze::Footprint, String> {
    let (rows, inputs) = data_spec(g, s.batch, s.seq).per_sequence();
    let shape = archc::analyze::Shape {
        batch: s.batch as u64,
        rows,
        inputs,
    };
    let shrink = Shrink {
        batch: "lower --batch or --seq (--accum N keeps the tokens per step)",
        cache: "lower --batch or --seq",
    };
    guard(g, archc::analyze::Job::Train, shape, memory, &shrink)
}

fn train_on<A: AutodiffBackend>(
    job: &Job,
    device: A::Device,
    device_name: &str,
) -> Result<(), ExitCode> {
    let args = job.args;
    let set = &job.settings;
    let spec = data_spec(&job.graph, set.batch, set.seq);
    let mut source = data::open(&job.run.data, &spec).map_err(fail)?;
    let (model, plan) =
        graph_to_model_seeded::<A>(&job.graph, &device, job.run.seed).map_err(fail)?;
    let mut t = trainer(model, plan, set.config(), job.run.seed, device.clone()).map_err(fail)?;
    if let Some(c) = &job.resume {
        t.resume(c).map_err(fail)?;
    }
    let cols = Columns::of(&t.model.heads(), &t.model.draws(), t.model.loops());
    let resumed_at = job.resume.as_ref().map(|c| c.state.step);
    let (mut metrics, gap) = Metrics::open(&job.dir, args.metrics, cols, resumed_at)
        .map_err(|e| fail(format!("{}: {e}", job.dir.display())))?;
    if let Some(gap) = gap {
        eprintln!("warning: {gap}");
    }
    if let Some(c) = &job.resume {
        cut_eval(&job.dir, c.state.step)
            .map_err(|e| fail(format!("{}: {e}", job.dir.join("eval.csv").display())))?;
    }
    println!(
        "training `{}`: {} parameters on {device_name}; data: {}",
        job.graph.name,
        thousands(t.model.model.num_params() as u128),
        source.describe()
    );
    println!("{}", set.describe(t.step, args.steps, &job.dir));
    if let Some(note) = set.past_horizon(t.step, args.steps) {
        println!("note: {note}");
    }
    let plan = &t.model.plan.clone();
    let answers = AnswerSet::new(plan, &job.run.data, &spec, args.eval_examples, job.run.seed)
        .map_err(|e| fail(format!("held-out examples: {e}")))?;
    let eval_every = args.eval_every.unwrap_or((args.steps / 10).max(1));
    let mut accuracy: Option<(u64, Accuracy)> = None;
    let progress = Progress::new(args, t.step);
    let (start, start_step) = (Instant::now(), t.step);
    let mut tokens = 0usize;
    let mut last_ckpt: Option<(u64, PathBuf)> =
        job.resume.as_ref().map(|c| (c.state.step, c.path.clone()));
    while t.step < args.steps {
        let step_start = Instant::now();
        let report = match t.step(source.as_mut()) {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                return Err(stopped(&e, &last_ckpt));
            }
        };
        tokens += report.tokens;
        let elapsed = start.elapsed().as_secs_f64();
        let tps = report.tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
        metrics
            .write(&report, tps, elapsed)
            .map_err(|e| fail(format!("{}: {e}", metrics.path.display())))?;
        if let Some(a) = &answers {
            if t.step == args.steps || (eval_every > 0 && t.step % eval_every == 0) {
                let acc = a
                    .score(&t.model.model.valid(), plan, &device)
                    .map_err(|e| fail(format!("held-out examples: {e}")))?;
                write_eval(&job.dir, t.step, acc)
                    .map_err(|e| fail(format!("{}: {e}", job.dir.join("eval.csv").display())))?;
                accuracy = Some((t.step, acc));
            }
        }
        let avg = tokens as f64 / elapsed.max(1e-9);
        progress.update(&report, avg, args.steps, start_step, elapsed, accuracy);
        let every = args.checkpoint_every;
        if t.step == args.steps || (every > 0 && t.step % every == 0) {
            let p = save(job, &t)?;
            last_ckpt = Some((t.step, p));
        }
    }
    progress.finish();
    let losses = read_losses(&metrics.path, args.metrics);
    let svg = crate::plot::loss_svg(&format!("{} — loss per head", job.graph.name), &losses);
    let plot = job.dir.join("loss.svg");
    std::fs::write(&plot, svg).map_err(|e| fail(format!("{}: {e}", plot.display())))?;
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "done: {} steps in {elapsed:.1} s, {} tokens/s",
        t.step - start_step,
        thousands((tokens as f64 / elapsed.max(1e-9)) as u128)
    );
    for (name, pts) in &losses {
        if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
            println!(
                "  {name:<12} loss {:.4} (step {}) -> {:.4} (step {})",
                first.1, first.0, last.1, last.0
            );
        }
    }
    if let (Some(a), Some((step, acc))) = (&answers, accuracy) {
        println!(
            "  answers      {:.1}% right ({} of {} held-out examples, head `{}`, step {step})",
            100.0 * acc.rate(),
            acc.correct,
            acc.total,
            a.head()
        );
    }
    if let Some((_, p)) = &last_ckpt {
        println!("checkpoint: {}", p.display());
    }
    if let Some(p) = crate::budget::peak() {
        println!(
            "memory:     peak {} (estimated {})",
            crate::summary::bytes(p),
            crate::summary::bytes(job.need)
        );
    }
    println!("metrics:    {}", metrics.path.display());
    println!("loss curve: {}", plot.display());
    Ok(())
}

/// A resumed run's `eval.csv` cut back to the scores of steps <= `upto` (the steps after
/// it are trained again), written beside it and renamed over it.
fn cut_eval(dir: &Path, upto: u64) -> std::io::Result<()> {
    let path = dir.join("eval.csv");
    let Ok(old) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut kept = String::from("step,correct,total,accuracy\n");
    for line in old.lines().skip(1) {
        let step = line.split(',').next().and_then(|s| s.parse::<u64>().ok());
        if line.split(',').count() == 4 && step.is_some_and(|s| s <= upto) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let tmp = dir.join(".eval.csv.tmp");
    std::fs::write(&tmp, kept)?;
    std::fs::rename(&tmp, &path)
}

/// Appends one held-out score to the run's `eval.csv` (step, correct, total, accuracy).
fn write_eval(dir: &Path, step: u64, acc: Accuracy) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join("eval.csv");
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    if new {
        writeln!(f, "step,correct,total,accuracy")?;
    }
    writeln!(f, "{step},{},{},{:.6}", acc.correct, acc.total, acc.rate())
}

fn save<A: AutodiffBackend>(job: &Job, t: &Trainer<A>) -> Result<PathBuf, ExitCode> {
    t.checkpoint(&job.dir.join("checkpoints"), &job.run, job.args.keep)
        .map_err(|e| match e {
            checkpoint::CheckpointError::NonFinite { .. } => {
                eprintln!("error: {e}; training stopped");
                ExitCode::from(3)
            }
            e => fail(e),
        })
}

fn stopped(e: &TrainError, last: &Option<(u64, PathBuf)>) -> ExitCode {
    let kept = kept(last);
    match e {
        TrainError::NonFinite { .. } => {
            eprintln!("error: {e}; training stopped, {kept}");
            ExitCode::from(3)
        }
        _ => {
            eprintln!("error: {e}; {kept}");
            ExitCode::from(2)
        }
    }
}

/// A bar on a terminal; plain lines every `log_every` steps otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    every: u64,
}

impl Progress {
    fn new(args: &TrainArgs, at: u64) -> Self {
        let every = args.log_every.unwrap_or((args.steps / 20).max(1));
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None, every };
        }
        let bar = ProgressBar::new(args.steps);
        bar.set_position(at);
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} steps  {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress {
            bar: Some(bar),
            every,
        }
    }

    fn update(
        &self,
        r: &StepReport,
        tps: f64,
        steps: u64,
        from: u64,
        elapsed: f64,
        accuracy: Option<(u64, Accuracy)>,
    ) {
        let heads: Vec<String> = r
            .losses
            .iter()
            .map(|(h, l)| format!("{h} {l:.4}"))
            .collect();
        let answers = accuracy.map_or(String::new(), |(_, a)| {
            format!(" | answers {:.1}% held-out", 100.0 * a.rate())
        });
        let msg = format!(
            "{}{answers} | {} tok/s",
            heads.join("  "),
            thousands(tps as u128)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(r.step);
                bar.set_message(msg);
            }
            None => {
                if r.step.is_multiple_of(self.every) || r.step == steps || r.step == from + 1 {
                    let done = (r.step - from) as f64;
                    let eta = elapsed / done.max(1.0) * (steps - r.step) as f64;
                    eprintln!(
                        "step {}/{steps}  {msg}  lr {:.2e}  ETA {eta:.0} s",
                        r.step, r.lr
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
