//! `archc run`: build a model with the runtime, feed it random token ids, run one forward
//! (and with `--backward` one backward on the autodiff backend) and report shapes, a
//! checksum per head, the parameter count and wall times. Exit 0 on success, 1 when the
//! file has diagnostics, 2 for anything else: usage, IO, weights that do not fit, a device
//! that is not there, or a model the runtime cannot run yet.

use crate::budget::{guard, peak, MemoryArgs, Shrink};
use crate::summary::{bytes, thousands};
use crate::Instantiate;
use archc::analyze::{Job as Footprint, Shape};
use archc::graph::{ArchGraph, NodeKind};
use archc::model::StemKind;
use archc_runtime::batch::Batch;
use archc_runtime::device::{cuda_available, parse_device, DeviceChoice};
use archc_runtime::model::{graph_to_model_seeded, ArchModel, Plan};
use archc_runtime::rng::Rng;
use archc_runtime::weights::Weights;
use burn::backend::ndarray::NdArrayDevice;
use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RunArgs {
    /// A `.arch` file, or an IR written by `archc build` (`.yaml`).
    file: PathBuf,
    #[command(flatten)]
    inst: Instantiate,
    /// Where to run: `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
    /// Also run one backward pass (loss: the sum of every head's output mean).
    #[arg(long)]
    backward: bool,
    /// Load the parameters from a safetensors file (names as in docs/runtime.md);
    /// without it they are the runtime's seeded random init (the same on every device).
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Sequences per batch.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Tokens per sequence (default: 32, or a stem's max_len / rows if smaller; a
    /// `next_scale` stem always gets all its rows).
    #[arg(long)]
    seq: Option<usize>,
    /// Seeds the random parameters and the token ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// The random ids one stem gets.
struct StemInput {
    name: String,
    /// Ids are below this (the vocabulary or codebook size).
    limit: u64,
    seq: usize,
    /// A features stem: rows of this width (drawn from N(0, 1)) instead of ids.
    dim: Option<usize>,
}

/// Everything a run needs that does not depend on the backend.
struct Job<'a> {
    graph: &'a ArchGraph,
    args: &'a RunArgs,
    weights: Option<Vec<u8>>,
    inputs: Vec<StemInput>,
    /// The memory the runtime was estimated to need.
    need: u128,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run(args: &RunArgs) -> ExitCode {
    match try_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn try_run(args: &RunArgs) -> Result<(), ExitCode> {
    if args.batch == 0 || args.seq == Some(0) {
        return Err(fail("--batch and --seq must be at least 1"));
    }
    if let DeviceChoice::Cuda(i) = args.device {
        cuda_available(i).map_err(fail)?;
    }
    let weights = match &args.weights {
        Some(p) => Some(std::fs::read(p).map_err(|e| fail(format!("{}: {e}", p.display())))?),
        None => None,
    };
    let graph = crate::build::load_graph(&args.file, &args.inst)?;
    let inputs = stem_inputs(&graph, args.seq).map_err(fail)?;
    let shape = Shape {
        batch: args.batch as u64,
        rows: inputs.iter().map(|s| s.seq as u64).sum(),
        inputs: inputs
            .iter()
            .map(|s| (s.seq as u64).saturating_mul(s.dim.unwrap_or(1) as u64))
            .fold(0, u64::saturating_add),
    };
    if (args.batch as u64)
        .checked_mul(shape.inputs)
        .is_none_or(|n| n > isize::MAX as u64)
    {
        return Err(fail(format!(
            "--batch {} makes inputs larger than this machine can address",
            args.batch
        )));
    }
    let what = if args.backward {
        Footprint::Backward
    } else {
        Footprint::Forward
    };
    let shrink = Shrink {
        batch: "lower --batch or --seq",
        cache: "lower --batch or --seq",
    };
    let need = guard(&graph, what, shape, &args.memory, &shrink).map_err(fail)?;
    let rows: Vec<(&str, u64)> = inputs
        .iter()
        .map(|s| (s.name.as_str(), s.seq as u64))
        .collect();
    let cost = crate::budget::step_cost(&graph, what, &rows, args.batch as u64, &need, None);
    if let Some(line) = cost {
        eprintln!("note: {line}");
    }
    let job = Job {
        graph: &graph,
        args,
        weights,
        inputs,
        need: need.total(),
    };
    match args.device {
        DeviceChoice::Cpu => {
            let device = NdArrayDevice::Cpu;
            if args.backward {
                forward_backward::<Autodiff<NdArray<f32>>>(&job, &device, "cpu (ndarray)")
            } else {
                forward_only::<NdArray<f32>>(&job, &device, "cpu (ndarray)")
            }
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(i) => {
            use archc_runtime::device::{cuda_device, Cuda};
            let device = cuda_device(i);
            let name = format!("cuda:{i} (burn-cuda)");
            if args.backward {
                forward_backward::<Autodiff<Cuda>>(&job, &device, &name)
            } else {
                forward_only::<Cuda>(&job, &device, &name)
            }
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(_) => Err(fail(archc_runtime::device::NO_CUDA_BUILD)),
    }
}

/// One input per token or codes stem, sorted by name.
fn stem_inputs(g: &ArchGraph, seq: Option<usize>) -> Result<Vec<StemInput>, String> {
    let mut v = Vec::new();
    for n in g.graph.node_indices() {
        let NodeKind::Input { modality, stem } = &g.graph[n].kind else {
            continue;
        };
        let (limit, cap, what, dim) = match stem {
            StemKind::Tokens { vocab, max_len } => (*vocab, *max_len, "max_len", None),
            StemKind::Codes { codebook, rows } => (*codebook, *rows, "rows", None),
            StemKind::Features { dim, rows, .. } => (1, *rows, "rows", Some(*dim as usize)),
        };
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        // A `next_scale` stem's rows are its scales' codes: they come whole, whatever
        // --seq (which sizes the other stems) says.
        let whole = g.next_scale_sides(modality).is_some();
        let seq = match seq {
            _ if whole => cap,
            Some(s) if s > cap => {
                return Err(format!(
                    "--seq {s} is longer than stem `{modality}` allows ({what} {cap})"
                ))
            }
            Some(s) => s,
            None => cap.min(32),
        };
        if limit == 0 || seq == 0 {
            return Err(format!(
                "stem `{modality}` has no ids to draw (vocabulary {limit}, {what} {cap})"
            ));
        }
        v.push(StemInput {
            name: modality.clone(),
            limit,
            seq,
            dim,
        });
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// Counts parameter tensors and those with a gradient.
struct GradCount<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    with: usize,
    total: usize,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradCount<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.total += 1;
        if param.val().grad(self.grads).is_some() {
            self.with += 1;
        }
    }
}

/// Keeps the ids' random stream apart from the parameters' (both seeded by `--seed`).
const IDS_STREAM: u64 = 0x1D5_1D5_1D5;

type Ids<B> = Batch<B>;

/// The model (loaded or seeded-random), its plan and the random ids; prints the header.
fn prepare<B: Backend>(
    job: &Job,
    device: &B::Device,
    device_name: &str,
) -> Result<(ArchModel<B>, Plan, Ids<B>), ExitCode> {
    let args = job.args;
    let (model, plan) = graph_to_model_seeded::<B>(job.graph, device, args.seed).map_err(fail)?;
    let (model, source) = match &job.weights {
        Some(bytes) => {
            let path = args.weights.as_ref().expect("weights given").display();
            let mut w = Weights::from_bytes(bytes).map_err(|e| fail(format!("{path}: {e}")))?;
            let model = model
                .load(&plan, &mut w)
                .map_err(|e| fail(format!("{path}: {e}")))?;
            w.finish().map_err(|e| fail(format!("{path}: {e}")))?;
            (model, format!("weights from {path}"))
        }
        None => (model, format!("random weights, seed {}", args.seed)),
    };
    let counted = archc::analyze::count_params(job.graph).total;
    let held = model.num_params() as u128;
    println!("model {} on {device_name}", job.graph.name);
    if held == counted {
        println!("parameters: {} ({source})", thousands(counted));
    } else {
        println!(
            "parameters: {} ({source}; the runtime holds {})",
            thousands(counted),
            thousands(held)
        );
    }
    // The runtime's own generator: the same ids on every backend.
    let mut rng = Rng::new(args.seed ^ IDS_STREAM);
    let mut ids = Batch::new(Vec::new());
    // One segment per stem, in the trunk's order where it has one.
    let order: Vec<String> = job
        .graph
        .graph
        .node_weights()
        .find_map(|n| match &n.kind {
            NodeKind::Merge { stems } => Some(stems.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let rank = |name: &str| order.iter().position(|o| o == name).unwrap_or(usize::MAX);
    let mut inputs: Vec<&StemInput> = job.inputs.iter().collect();
    inputs.sort_by_key(|s| (rank(&s.name), s.name.clone()));
    for s in inputs {
        ids.layout.push((s.name.clone(), s.seq));
        if let Some(dim) = s.dim {
            let n = args.batch * s.seq * dim;
            // N(0, 1) rows from the same stream.
            let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let t = Tensor::<B, 3>::from_data(TensorData::new(v, [args.batch, s.seq, dim]), device);
            println!(
                "input {}: [{}, {}, {}] features",
                s.name, args.batch, s.seq, dim
            );
            ids.features.insert(s.name.clone(), t);
            continue;
        }
        let n = args.batch * s.seq;
        let v: Vec<i64> = (0..n)
            .map(|_| ((rng.unit() * s.limit as f64) as u64).min(s.limit - 1) as i64)
            .collect();
        let t = Tensor::<B, 2, Int>::from_data(TensorData::new(v, [args.batch, s.seq]), device);
        println!(
            "input {}: [{}, {}] ids < {}",
            s.name, args.batch, s.seq, s.limit
        );
        ids.ids.insert(s.name.clone(), t);
    }
    Ok((model, plan, ids))
}

/// Runs the forward, timed (the device is synchronised before the clock stops).
fn forward<B: Backend>(
    model: &ArchModel<B>,
    plan: &Plan,
    ids: &Ids<B>,
    device: &B::Device,
) -> Result<(HashMap<String, Tensor<B, 3>>, Duration), ExitCode> {
    let start = Instant::now();
    let out = model.forward_batch(plan, ids).map_err(fail)?.heads;
    let _ = B::sync(device);
    let took = start.elapsed();
    if out.is_empty() {
        return Err(fail("the model has no head to report"));
    }
    Ok((out, took))
}

/// Each head's shape and checksum (the sum of its outputs, 6 significant digits).
fn print_heads<B: Backend>(out: &HashMap<String, Tensor<B, 3>>) {
    let mut names: Vec<&String> = out.keys().collect();
    names.sort();
    for h in names {
        let t = &out[h];
        let sum: f64 = t.clone().into_data().iter::<f64>().sum();
        println!("head {h}: {:?} sum {}", t.dims(), sig6(sum));
    }
}

/// `x` with 6 significant digits.
fn sig6(x: f64) -> String {
    format!("{x:.5e}")
}

/// The process's peak memory beside the estimate it was admitted on.
fn print_memory(job: &Job) {
    if let Some(p) = peak() {
        println!("memory: peak {} (estimated {})", bytes(p), bytes(job.need));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn forward_only<B: Backend>(job: &Job, device: &B::Device, name: &str) -> Result<(), ExitCode> {
    let (model, plan, ids) = prepare::<B>(job, device, name)?;
    let (out, took) = forward(&model, &plan, &ids, device)?;
    print_heads(&out);
    println!("forward: {}", ms(took));
    print_memory(job);
    Ok(())
}

fn forward_backward<B: AutodiffBackend>(
    job: &Job,
    device: &B::Device,
    name: &str,
) -> Result<(), ExitCode> {
    let (model, plan, ids) = prepare::<B>(job, device, name)?;
    let (out, took) = forward(&model, &plan, &ids, device)?;
    print_heads(&out);
    println!("forward: {} (autodiff)", ms(took));
    let mut names: Vec<&String> = out.keys().collect();
    names.sort();
    let loss = names
        .iter()
        .map(|h| out[*h].clone().mean())
        .reduce(|a, b| a + b)
        .expect("at least one head");
    let start = Instant::now();
    let grads = loss.backward();
    let _ = B::sync(device);
    let took = start.elapsed();
    let value: f64 = loss.into_data().iter::<f64>().sum();
    let mut count = GradCount::<B> {
        grads: &grads,
        with: 0,
        total: 0,
    };
    model.visit(&mut count);
    println!("loss: {} (sum of the heads' output means)", sig6(value));
    println!(
        "backward: {}, gradients for {} of {} parameter tensors",
        ms(took),
        count.with,
        count.total
    );
    if count.with == 0 {
        return Err(fail(
            "the backward pass produced no gradient for any parameter",
        ));
    }
    print_memory(job);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_significant_digits() {
        assert_eq!(sig6(1234.5678), "1.23457e3");
        assert_eq!(sig6(-0.000123456789), "-1.23457e-4");
    }
}
