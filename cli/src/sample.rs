//! `archc sample`: autoregressive generation from a checkpoint (the library's
//! `archc_runtime::sample::generate`, over the cached decoder). Without a prompt it draws one from the data the checkpoint was
//! trained on: for the built-in task, a sequence cut after its first question (`? k x`),
//! so the model's next token is its answer, which is checked. Models with loops report each token's passes.
//! Exit 0 done, 1 the file has diagnostics, 2 usage, IO or a bad checkpoint.

use crate::Instantiate;
use archc_runtime::checkpoint::{self, sha256};
use archc_runtime::data::{self, HostBatch, SYNTHETIC_END};
use archc_runtime::device::{cuda_available, parse_device, DeviceChoice};
use archc_runtime::model::graph_to_model_seeded;
use archc_runtime::rng::Rng;
use archc_runtime::sample::{generate, SampleConfig, Sampled, TextHead};
use archc_runtime::train::data_spec;
use archc_runtime::weights::Weights;
use burn::tensor::backend::Backend;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct SampleArgs {
    /// The `.arch` file (or IR) the checkpoint was trained from, with the same options.
    file: PathBuf,
    #[command(flatten)]
    inst: Instantiate,
    /// A checkpoint directory, or a run directory (its latest checkpoint).
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Text to continue, as bytes (needs a text vocab of at least 256).
    #[arg(long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// Token ids to continue, separated by spaces or commas.
    #[arg(long)]
    prompt_ids: Option<String>,
    #[arg(long, default_value_t = 32)]
    max_tokens: usize,
    /// 0 picks the most likely token (greedy).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Sample among the k most likely tokens only.
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
    #[command(flatten)]
    memory: crate::budget::MemoryArgs,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn sample(args: &SampleArgs) -> ExitCode {
    match try_sample(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

fn try_sample(args: &SampleArgs) -> Result<(), ExitCode> {
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        return Err(fail("--temperature must be a number >= 0"));
    }
    if args.top_k == Some(0) {
        return Err(fail("--top-k must be at least 1"));
    }
    if let DeviceChoice::Cuda(i) = args.device {
        cuda_available(i).map_err(fail)?;
    }
    let graph = crate::build::load_graph(&args.file, &args.inst)?;
    // At most the whole context: the text stem's max_len beside every other stem's rows.
    let (rows, inputs) = data_spec(&graph, 1, None).per_sequence();
    let shape = archc::analyze::Shape {
        batch: 1,
        rows,
        inputs,
    };
    let shrink = crate::budget::Shrink {
        batch: "use --smoke, another --scale or a smaller --set",
        cache: "use --smoke, another --scale or a smaller --set",
    };
    crate::budget::guard(
        &graph,
        archc::analyze::Job::Sample,
        shape,
        &args.memory,
        &shrink,
    )
    .map_err(fail)?;
    let hash = sha256(archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph)).as_bytes());
    // A run directory gives its newest intact checkpoint (saying so when `latest` names a
    // damaged one); a checkpoint directory named itself is read as it is.
    let ckpt = if args.checkpoint.join("state.json").is_file() {
        checkpoint::read(&args.checkpoint, &graph.name, &hash).map_err(fail)?
    } else {
        let (c, note) =
            checkpoint::read_newest(&args.checkpoint, &graph.name, &hash, false).map_err(fail)?;
        if let Some(note) = note {
            eprintln!("warning: {note}");
        }
        c
    };
    match args.device {
        DeviceChoice::Cpu => {
            use burn::backend::{ndarray::NdArrayDevice, NdArray};
            sample_on::<NdArray<f32>>(args, &graph, &ckpt, NdArrayDevice::Cpu)
        }
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(i) => {
            use archc_runtime::device::{cuda_device, Cuda};
            sample_on::<Cuda>(args, &graph, &ckpt, cuda_device(i))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(_) => Err(fail(archc_runtime::device::NO_CUDA_BUILD)),
    }
}

/// The prompt: (non-text prefix segments, text ids, the expected answer when known).
struct Prompt {
    host: HostBatch,
    text: Vec<i64>,
    answer: Option<i64>,
    entities: Option<usize>,
}

fn prompt(
    args: &SampleArgs,
    graph: &archc::graph::ArchGraph,
    ckpt: &checkpoint::Loaded,
    text_stem: &str,
    vocab: u64,
) -> Result<Prompt, String> {
    let empty = HostBatch {
        batch: 1,
        layout: Vec::new(),
        ids: Default::default(),
        features: Default::default(),
        dims: Default::default(),
    };
    let given: Option<Vec<i64>> = if let Some(p) = &args.prompt {
        if vocab < 256 {
            return Err(format!(
                "--prompt is read as bytes, but the text vocab is {vocab}; use --prompt-ids"
            ));
        }
        Some(p.bytes().map(i64::from).collect())
    } else if let Some(p) = &args.prompt_ids {
        let ids: Result<Vec<i64>, String> = p
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|i| (0..vocab as i64).contains(i))
                    .ok_or_else(|| format!("--prompt-ids: `{s}` is not an id below {vocab}"))
            })
            .collect();
        Some(ids?)
    } else {
        None
    };
    if let Some(text) = given {
        if text.is_empty() {
            return Err("the prompt is empty".into());
        }
        return Ok(Prompt {
            host: empty,
            text,
            answer: None,
            entities: None,
        });
    }
    // A prompt from the checkpoint's data: its first sequence, text cut after `=`.
    let spec = data_spec(
        graph,
        1,
        ckpt.state.settings.get("seq").and_then(|s| {
            s.strip_prefix("Some(")
                .and_then(|s| s.strip_suffix(')'))
                .and_then(|s| s.parse().ok())
        }),
    );
    let mut source = data::open(&ckpt.state.data, &spec).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(args.seed);
    let mut host = source.next_batch(&mut rng).map_err(|e| e.to_string())?;
    let mut text = host.ids.remove(text_stem).unwrap_or_default();
    let synthetic = ckpt.state.data.starts_with("synthetic");
    let mut answer = None;
    let mut entities = None;
    if synthetic {
        // The facts come first, 3 ids each, up to the first `?`.
        let facts = text
            .iter()
            .position(|&t| t == data::SYNTHETIC_QUERY)
            .unwrap_or(0);
        entities = Some(facts / 3);
        // Cut after the first query's question: the next id is its answer.
        if let Some(&at) = data::synthetic_answer_positions(&text).first() {
            answer = text.get(at + 1).copied();
            text.truncate(at + 1);
        }
    } else {
        text.truncate((text.len() / 2).max(1));
    }
    host.layout.retain(|(s, _)| s != text_stem);
    Ok(Prompt {
        host,
        text,
        answer,
        entities,
    })
}

fn name(id: i64, p: &Prompt) -> String {
    match p.entities {
        Some(n) => data::synthetic_token_name(id, n),
        None => id.to_string(),
    }
}

fn sample_on<B: Backend>(
    args: &SampleArgs,
    graph: &archc::graph::ArchGraph,
    ckpt: &checkpoint::Loaded,
    device: B::Device,
) -> Result<(), ExitCode> {
    let (model, plan) = graph_to_model_seeded::<B>(graph, &device, 0).map_err(fail)?;
    let mut w = Weights::from_bytes(&ckpt.model)
        .map_err(|e| fail(format!("{}: {e}", ckpt.path.display())))?;
    let model = model
        .load(&plan, &mut w)
        .map_err(|e| fail(format!("{}: {e}", ckpt.path.display())))?;
    let text = TextHead::of(&plan).map_err(fail)?;
    let p = prompt(args, graph, ckpt, &text.stem, text.vocab).map_err(fail)?;
    if p.text.len() >= text.max_len {
        return Err(fail(format!(
            "the prompt has {} tokens; `{}` holds at most {}",
            p.text.len(),
            text.stem,
            text.max_len
        )));
    }
    let segs: Vec<String> = p
        .host
        .layout
        .iter()
        .chain([&(text.stem.clone(), p.text.len())])
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    println!(
        "sampling `{}` from {} (step {}); prompt {}",
        graph.name,
        ckpt.path.display(),
        ckpt.state.step,
        segs.join(", ")
    );
    let shown: Vec<String> = p.text.iter().map(|&t| name(t, &p)).collect();
    println!("prompt: {}", shown.join(" "));
    let config = SampleConfig {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
        stop: p.entities.map(|_| SYNTHETIC_END),
    };
    let start = Instant::now();
    let Sampled {
        tokens: out,
        passes,
    } = generate(&model, &plan, &text, &p.host, &p.text, &config, &device).map_err(fail)?;
    let secs = start.elapsed().as_secs_f64();
    let shown: Vec<String> = out.iter().map(|&t| name(t, &p)).collect();
    if args.prompt.is_some() && out.iter().all(|&t| (0..256).contains(&t)) {
        let bytes: Vec<u8> = out.iter().map(|&t| t as u8).collect();
        println!("output: {}", String::from_utf8_lossy(&bytes));
    } else {
        println!("output: {}", shown.join(" "));
    }
    if !passes.is_empty() {
        let per: Vec<String> = shown
            .iter()
            .zip(&passes)
            .map(|(t, k)| format!("{t}:{k}"))
            .collect();
        let mean = passes.iter().sum::<usize>() as f64 / passes.len().max(1) as f64;
        println!(
            "loop passes per token (token:passes): {}  (mean {mean:.2})",
            per.join(" ")
        );
    }
    if let Some(a) = p.answer {
        let got = out.first().copied();
        println!(
            "answer: {} (expected {}) — {}",
            got.map_or("none".into(), |g| name(g, &p)),
            name(a, &p),
            if got == Some(a) { "correct" } else { "wrong" }
        );
    }
    println!(
        "{} tokens in {secs:.2} s ({:.1} tokens/s, KV cache)",
        out.len(),
        out.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}
