//! `archc gen torch|rust FILE -o DIR`: the model as a standalone PyTorch project or Rust
//! crate (compiler/src/gen/). Each file is written beside itself and renamed into place.
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
    /// A cargo crate over burn 0.21: the model, weights by name, a forward binary.
    Rust,
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
        Target::Rust => archc::gen::graph_to_rust(&graph),
    };
    let files = match files {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        let t = match args.target {
            Target::Torch => "torch",
            Target::Rust => "rust",
        };
        PathBuf::from("gen").join(format!("{}-{t}", graph.name))
    });
    // Each file written beside itself and renamed over the old one: other files in DIR
    // (a crate's `target/`, a venv) are left alone.
    for f in &files {
        let path = dir.join(&f.path);
        let tmp = path.with_extension("archc-tmp");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, &f.text))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return fail(format!("{}: {e}", path.display()));
        }
    }
    for f in &files {
        println!("wrote {}", dir.join(&f.path).display());
    }
    if args.target == Target::Rust {
        rustfmt(&dir, &files);
    }
    ExitCode::SUCCESS
}

/// Lays out the generated Rust with the toolchain's rustfmt (the generator writes one
/// statement a line; rustfmt wraps them), so the crate passes `cargo fmt --check`.
/// Without rustfmt the files stay as generated, which compile the same.
fn rustfmt(dir: &std::path::Path, files: &[archc::gen::GenFile]) {
    let rs: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.path.ends_with(".rs"))
        .map(|f| dir.join(&f.path))
        .collect();
    match std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .args(&rs)
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("warning: rustfmt exited with {s}; the files are as generated"),
        Err(e) => eprintln!("warning: rustfmt not run ({e}); the files are as generated"),
    }
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
