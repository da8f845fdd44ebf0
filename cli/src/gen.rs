//! `archc gen torch FILE -o DIR`: the model as a standalone PyTorch project (compiler/src/
//! gen/). Written into a temporary directory and renamed into place, like `archc build`.
//! `archc data FILE -o SHARD`: the built-in task (or any --data source) written as a
//! multimodal safetensors shard (docs/data.md), the data the generated train.py reads.

use crate::Instantiate;
use archc_runtime::data;
use archc_runtime::rng::Rng;
use archc_runtime::train::data_spec;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Target {
    /// model.py, train.py (DDP / FSDP2 under torchrun), requirements.txt.
    Torch,
}

#[derive(clap::Args)]
pub struct GenArgs {
    #[arg(value_enum)]
    target: Target,
    /// A `.arch` file, or an IR written by `archc build` (`.yaml`).
    file: PathBuf,
    #[command(flatten)]
    inst: Instantiate,
    /// Output directory (default `gen/<model>-<target>/`).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn gen(args: &GenArgs) -> ExitCode {
    let graph = match crate::build::load_graph(&args.file, &args.inst) {
        Ok(g) => g,
        Err(c) => return c,
    };
    let files = match args.target {
        Target::Torch => archc::gen::graph_to_torch(&graph),
    };
    let files = match files {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("gen").join(format!("{}-torch", graph.name)));
    let owned: Vec<(&str, String)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.text.clone()))
        .collect();
    if let Err(e) = crate::build::write_dir_atomic(&dir, &owned) {
        return fail(format!("{}: {e}", dir.display()));
    }
    for f in &files {
        println!("wrote {}", dir.join(&f.path).display());
    }
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
pub struct DataArgs {
    /// The model the data is for (its stems decide the layout).
    file: PathBuf,
    #[command(flatten)]
    inst: Instantiate,
    /// The source, as for `archc train --data`.
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// Examples to write.
    #[arg(long, default_value_t = 256)]
    examples: usize,
    /// The longest text segment (as `archc train --seq`).
    #[arg(long)]
    seq: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The shard to write (`.safetensors`).
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
}

pub fn export(args: &DataArgs) -> ExitCode {
    let graph = match crate::build::load_graph(&args.file, &args.inst) {
        Ok(g) => g,
        Err(c) => return c,
    };
    if args.examples == 0 {
        return fail("--examples must be at least 1");
    }
    let spec = data_spec(&graph, args.examples, args.seq);
    let mut source = match data::open(&args.data, &spec) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let host = match source.next_batch(&mut Rng::new(args.seed)) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let mut saver = archc_runtime::weights::Saver::default();
    let mut ids = Vec::new();
    for (stem, v) in &host.ids {
        ids.push((
            format!("{stem}.ids"),
            vec![args.examples, host.stem_len(stem)],
            v.clone(),
        ));
    }
    for (stem, v) in &host.features {
        let dim = host.dims.get(stem).copied().unwrap_or(1);
        saver.put_raw(
            format!("{stem}.features"),
            vec![args.examples, host.stem_len(stem), dim],
            v.clone(),
        );
    }
    let layout: Vec<String> = host
        .layout
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    let bytes = saver.to_bytes_with(&ids, &[("layout", layout.join(","))]);
    let tmp = args.out.with_extension("safetensors.tmp");
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &args.out)) {
        return fail(format!("{}: {e}", args.out.display()));
    }
    println!(
        "wrote {}: {} examples, layout {} ({})",
        args.out.display(),
        args.examples,
        layout.join(","),
        source.describe()
    );
    ExitCode::SUCCESS
}
