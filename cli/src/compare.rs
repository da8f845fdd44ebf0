//! `archc compare A B [...] --steps N`: the seeds' experiment. Trains several models on the
//! same data source, seed and token budget (the first model's `--steps` times its tokens
//! per step; each other model takes as many steps as that budget buys it), on the CPU,
//! and reports a table per model: tokens/s, each head's training loss (mean of the last
//! tenth of its steps, with the training draws: masked rows, sampled passes) and each
//! head's evaluation loss (batches from another generator stream, loops at their
//! inference passes; a head whose target has `mask_tokens` is scored on drawn masks, as
//! its objective is defined, every other head with nothing masked), with every training
//! curve in one picture over tokens seen. Writes DIR/compare.md, DIR/compare.csv and DIR/compare.svg.

use crate::summary::thousands;
use crate::Instantiate;
use archc::model::Region;
use archc_runtime::batch::Batch;
use archc_runtime::data;
use archc_runtime::draws::draw_for_training;
use archc_runtime::model::{graph_to_model_seeded, ArchModel, Plan};
use archc_runtime::objectives::{head_losses, trained_heads};
use archc_runtime::optim::AdamWConfig;
use archc_runtime::rng::Rng;
use archc_runtime::train::{data_spec, trainer, StepReport, TrainConfig};
use burn::backend::{ndarray::NdArrayDevice, Autodiff, NdArray};
use burn::module::{AutodiffModule, Module};
use burn::tensor::ElementConversion;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type A = Autodiff<NdArray<f32>>;
type E = NdArray<f32>;

/// The generator stream of the evaluation batches (apart from training's data stream).
const EVAL_STREAM: u64 = 0xE7A1;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Two or more `.arch` files (or IRs written by `archc build`).
    #[arg(required = true, num_args = 2..)]
    files: Vec<PathBuf>,
    /// Applied to every file.
    #[command(flatten)]
    inst: Instantiate,
    /// The data source, as for `archc train --data` (the same for every model).
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// Optimizer steps of the first model; the others get the same token budget.
    #[arg(long, default_value_t = 200)]
    steps: u64,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Seeds every model's parameters, data and draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Batches each model is evaluated on after training (the same batches for all).
    #[arg(long, default_value_t = 16)]
    eval_batches: usize,
    /// Where to write compare.md, compare.csv and compare.svg.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "runs/compare"
    )]
    out: PathBuf,
    #[command(flatten)]
    memory: crate::budget::MemoryArgs,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// One model's run.
struct Run {
    name: String,
    params: usize,
    steps: u64,
    tokens: usize,
    seconds: f64,
    /// Per step: tokens seen so far and the report.
    reports: Vec<(usize, StepReport)>,
    /// Per head: the mean loss over the evaluation batches.
    eval: BTreeMap<String, f64>,
    /// The model has an `mntp` modality (GPT-BERT).
    mntp: bool,
}

impl Run {
    /// Per head, the mean loss over the last tenth of the steps (at least one).
    fn final_losses(&self) -> BTreeMap<String, f64> {
        let tail = (self.reports.len() / 10).max(1);
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (_, r) in self.reports.iter().rev().take(tail) {
            for (h, l) in &r.losses {
                let e = sums.entry(h.clone()).or_default();
                e.0 += l;
                e.1 += 1;
            }
        }
        sums.into_iter()
            .map(|(h, (s, n))| (h, s / n as f64))
            .collect()
    }
}

pub fn compare(args: &CompareArgs) -> ExitCode {
    match try_compare(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn try_compare(args: &CompareArgs) -> Result<(), ExitCode> {
    if args.steps == 0 || args.batch == 0 || args.eval_batches == 0 {
        return Err(fail(
            "--steps, --batch and --eval-batches must be at least 1",
        ));
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(fail(format!(
            "--lr must be a positive number, not {}",
            args.lr
        )));
    }
    for (name, v) in [("--clip", args.clip), ("--weight-decay", args.weight_decay)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(fail(format!("{name} must be a number >= 0, not {v}")));
        }
    }
    let mut graphs = Vec::new();
    for f in &args.files {
        graphs.push(crate::build::load_graph(f, &args.inst)?);
    }
    let names = unique_names(&args.files, &graphs);
    // Every model is admitted before the first trains (they train one after another).
    for (g, name) in graphs.iter().zip(&names) {
        let spec = data_spec(g, args.batch, None);
        let (rows, inputs) = spec.per_sequence();
        let shape = archc::analyze::Shape {
            batch: args.batch as u64,
            rows,
            inputs,
        };
        let shrink = crate::budget::Shrink {
            batch: "lower --batch",
            cache: "lower --batch",
        };
        let need =
            crate::budget::guard(g, archc::analyze::Job::Train, shape, &args.memory, &shrink)
                .map_err(|e| fail(format!("{name}: {e}")))?;
        let rows: Vec<(&str, u64)> = spec.per_stem().map(|(n, r, _)| (n, r)).collect();
        let cost = crate::budget::step_cost(
            g,
            archc::analyze::Job::Train,
            &rows,
            args.batch as u64,
            &need,
            None,
        );
        if let Some(line) = cost {
            eprintln!("note: {name}: {line}");
        }
    }
    let mut runs: Vec<Run> = Vec::new();
    let mut budget: Option<usize> = None;
    for (g, name) in graphs.iter().zip(&names) {
        let spec = data_spec(g, args.batch, None);
        let mut source = data::open(&args.data, &spec).map_err(|e| fail(format!("{name}: {e}")))?;
        // Tokens per step, from a batch drawn with a throwaway generator.
        let per_step = source
            .next_batch(&mut Rng::new(args.seed))
            .map_err(|e| fail(format!("{name}: {e}")))?
            .tokens()
            .max(1);
        let mut source = data::open(&args.data, &spec).map_err(|e| fail(format!("{name}: {e}")))?;
        let first = usize::try_from(args.steps)
            .ok()
            .and_then(|s| s.checked_mul(per_step))
            .ok_or_else(|| {
                fail(format!(
                    "--steps {} times {per_step} tokens a step is too large",
                    args.steps
                ))
            })?;
        let budget = *budget.get_or_insert(first);
        // The step that reaches the budget is the last (at most one step's tokens over).
        let steps = budget.div_ceil(per_step) as u64;
        let device = NdArrayDevice::Cpu;
        let (model, plan) = graph_to_model_seeded::<A>(g, &device, args.seed)
            .map_err(|e| fail(format!("{name}: {e}")))?;
        let params = model.num_params();
        let config = TrainConfig {
            horizon: steps,
            accum: 1,
            adamw: AdamWConfig {
                lr: args.lr,
                weight_decay: args.weight_decay,
                ..AdamWConfig::default()
            },
            min_lr: args.lr / 10.0,
            warmup: (steps / 10).min(100),
            clip: args.clip,
        };
        let mut t = trainer(model, plan, config, args.seed, device)
            .map_err(|e| fail(format!("{name}: {e}")))?;
        eprintln!(
            "{name}: {} parameters, {steps} steps of {per_step} tokens",
            thousands(params as u128)
        );
        let start = Instant::now();
        let (mut tokens, mut reports) = (0, Vec::new());
        while t.step < steps {
            let r = t
                .step(source.as_mut())
                .map_err(|e| fail(format!("{name}: {e}")))?;
            tokens += r.tokens;
            if r.step % (steps / 10).max(1) == 0 {
                let heads: Vec<String> = r
                    .losses
                    .iter()
                    .map(|(h, l)| format!("{h} {l:.4}"))
                    .collect();
                eprintln!("  step {}/{steps}  {}", r.step, heads.join("  "));
            }
            reports.push((tokens, r));
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval = evaluate(&t.model.model.valid(), &t.model.plan, source.as_mut(), args)
            .map_err(|e| fail(format!("{name}: evaluation: {e}")))?;
        let shown: Vec<String> = eval.iter().map(|(h, l)| format!("{h} {l:.4}")).collect();
        eprintln!("  evaluation: {}", shown.join("  "));
        runs.push(Run {
            name: name.clone(),
            params,
            steps,
            tokens,
            seconds,
            reports,
            eval,
            mntp: t
                .model
                .plan
                .graph
                .masks
                .iter()
                .any(|m| matches!(m.region, Region::Mntp { .. })),
        });
    }
    let table = table(args, &runs);
    print!("{table}");
    write_outputs(&args.out, &runs, &table)
}

/// Per head, the mean loss over `--eval-batches` batches drawn from the evaluation
/// stream, with no training draws: nothing masked, sampled loops at their mean.
fn evaluate(
    model: &ArchModel<E>,
    plan: &Plan,
    source: &mut dyn data::Source,
    args: &CompareArgs,
) -> Result<BTreeMap<String, f64>, String> {
    // A head whose target has `mask_tokens` is defined on masked rows: it is scored with
    // masks drawn (from the evaluation stream); every other head with nothing masked. A
    // next-token head over an `mntp` target is a causal LM at inference: nothing masked.
    let masked: Vec<String> = plan
        .graph
        .masks
        .iter()
        .filter(|m| matches!(m.region, Region::MaskTokens { .. }))
        .map(|m| m.modality.clone())
        .collect();
    let on_masks: Vec<String> = trained_heads(plan)
        .into_iter()
        .filter(|(_, o, t)| {
            t.as_ref().is_some_and(|t| {
                masked.contains(t)
                    && !(o.kind.is_next_position() && plan.graph.mntp_causal(t).is_some())
            })
        })
        .map(|(h, _, _)| h)
        .collect();
    let mut data_rng = Rng::new(args.seed ^ EVAL_STREAM);
    let mut draws = Rng::new(args.seed ^ EVAL_STREAM ^ 1);
    let device = NdArrayDevice::Cpu;
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for _ in 0..args.eval_batches {
        let host = source
            .next_batch(&mut data_rng)
            .map_err(|e| e.to_string())?;
        let mut passes = vec![(Batch::<E>::from_host(&host, &device), false)];
        if !on_masks.is_empty() {
            let mut b = Batch::<E>::from_host(&host, &device);
            draw_for_training(plan, &mut b, &mut draws);
            b.steps.clear(); // loops at their inference passes
            passes.push((b, true));
        }
        for (batch, with_masks) in &passes {
            let out = model
                .forward_batch(plan, batch)
                .map_err(|e| e.to_string())?;
            for h in head_losses(model, plan, &out, batch, &mut draws).map_err(|e| e.to_string())? {
                if on_masks.contains(&h.head) != *with_masks {
                    continue;
                }
                let v: f64 = h.loss.into_scalar().elem();
                let e = sums.entry(h.head).or_default();
                e.0 += v;
                e.1 += 1;
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(h, (s, n))| (h, s / n as f64))
        .collect())
}

/// Each file's model name, or its file stem where two models share a name.
fn unique_names(files: &[PathBuf], graphs: &[archc::graph::ArchGraph]) -> Vec<String> {
    let names: Vec<String> = graphs.iter().map(|g| g.name.clone()).collect();
    names
        .iter()
        .zip(files)
        .enumerate()
        .map(|(i, (n, f))| {
            if names.iter().filter(|m| *m == n).count() > 1 {
                let stem = f
                    .file_stem()
                    .map_or(String::new(), |s| s.to_string_lossy().into_owned());
                format!("{n} ({stem}#{})", i + 1)
            } else {
                n.clone()
            }
        })
        .collect()
}

/// The command as typed (arguments after the program name), for the report.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("archc {}", args.join(" "))
}

/// The markdown table: one row per model, one column per head any model has.
fn table(args: &CompareArgs, runs: &[Run]) -> String {
    let mut heads: Vec<String> = Vec::new();
    for r in runs {
        for h in r.final_losses().keys() {
            if !heads.contains(h) {
                heads.push(h.clone());
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`{}`\n\ndata `{}`, seed {}, batch {}, lr {}, token budget {}. train: each head's loss over the last tenth of the steps, with the training draws (masked rows, sampled passes). eval: over {} batches of another generator stream ({}), loops at their inference passes; a head whose target has `mask_tokens` with masks drawn, every other head with nothing masked{}.\n",
        command_line(),
        args.data,
        args.seed,
        args.batch,
        args.lr,
        thousands(runs.first().map_or(0, |r| r.tokens) as u128),
        args.eval_batches,
        if args.data.starts_with("synthetic") {
            "fresh examples of the task"
        } else {
            "drawn from the same data as training, not held out"
        },
        if runs.iter().any(|r| r.mntp) {
            " (a next-token head over an `mntp` target too: at inference it is a causal LM)"
        } else {
            ""
        }
    );
    let mut header = vec!["model", "parameters", "steps", "tokens", "tokens/s"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    header.extend(heads.iter().map(|h| format!("train `{h}`")));
    header.extend(heads.iter().map(|h| format!("eval `{h}`")));
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
    for r in runs {
        let fin = r.final_losses();
        let mut row = vec![
            format!("`{}`", r.name),
            thousands(r.params as u128),
            r.steps.to_string(),
            thousands(r.tokens as u128),
            thousands((r.tokens as f64 / r.seconds.max(1e-9)) as u128),
        ];
        row.extend(
            heads
                .iter()
                .map(|h| fin.get(h).map_or("—".into(), |l| format!("{l:.4}"))),
        );
        row.extend(
            heads
                .iter()
                .map(|h| r.eval.get(h).map_or("—".into(), |l| format!("{l:.4}"))),
        );
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

fn write_outputs(dir: &Path, runs: &[Run], table: &str) -> Result<(), ExitCode> {
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let mut csv = String::from("model,step,tokens,head,loss\n");
    let mut series: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for r in runs {
        for (tokens, rep) in &r.reports {
            for (h, l) in &rep.losses {
                let _ = writeln!(
                    csv,
                    "{},{},{tokens},{h},{l}",
                    r.name.replace(',', ";"),
                    rep.step
                );
                series
                    .entry(format!("{} / {h}", r.name))
                    .or_default()
                    .push((*tokens as u64, *l));
            }
        }
    }
    let svg = crate::plot::loss_svg_over(
        "loss per head, same data and token budget",
        "tokens seen",
        &series,
    );
    for (file, text) in [
        ("compare.md", table.to_string()),
        ("compare.csv", csv),
        ("compare.svg", svg),
    ] {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(|e| fail(format!("{}: {e}", p.display())))?;
    }
    println!(
        "\nwrote {}/compare.md, compare.csv, compare.svg",
        dir.display()
    );
    Ok(())
}
