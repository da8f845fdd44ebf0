//! `archc build`: the IR (YAML), the DOT source and an SVG picture into a directory, and a
//! cost summary on stdout. Everything is written into a temporary directory first and
//! renamed into place, so a failure leaves nothing half-written.

use crate::{read, render, Instantiate};
use archc::analyze::{graph_to_summary, Workload};
use archc::graph::ArchGraph;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum SummaryFormat {
    Table,
    Json,
    Yaml,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// A `.arch` file, or an IR written by `archc build` (`.yaml`).
    file: PathBuf,
    /// Output directory (default `build/<model name>/`).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    #[command(flatten)]
    inst: Instantiate,
    #[arg(long, value_enum, default_value = "table")]
    format: SummaryFormat,
    /// Batch size for activation and KV-cache memory.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Sequence length for FLOPs and memory (default: the longest a tokens stem declares).
    #[arg(long)]
    seq: Option<u64>,
    /// Skip the SVG (the DOT source is still written).
    #[arg(long)]
    no_svg: bool,
}

/// Where a command's graph comes from: a `.arch` file or an IR document, checked alike
/// (an IR through `archc::check_ir`, its diagnostics located in the YAML). Exit 1 with the
/// diagnostics printed if it has errors.
pub fn load_graph(path: &Path, inst: &Instantiate) -> Result<ArchGraph, ExitCode> {
    let bytes = read(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let name = path.display().to_string();
    if is_ir(path) && inst.is_set() {
        eprintln!("error: {name}: `--set`, `--smoke` and `--scale` apply to .arch files, not to a built IR");
        return Err(ExitCode::from(2));
    }
    let (src, checked) = crate::check_file(path, &bytes, &inst.options());
    render::human(&checked.diagnostics, &name, src);
    match checked.graph {
        Some(g) if !checked.has_errors() => Ok(g),
        _ => Err(ExitCode::from(1)),
    }
}

/// An IR document, by its extension.
pub fn is_ir(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

pub fn build(args: &BuildArgs) -> ExitCode {
    let g = match load_graph(&args.file, &args.inst) {
        Ok(g) => g,
        Err(code) => return code,
    };
    if args.batch == 0 || args.seq == Some(0) {
        eprintln!("error: --batch and --seq must be at least 1");
        return ExitCode::from(2);
    }
    let ir = archc::graph_to_ir(&g);
    let mut files: Vec<(&str, String)> = vec![("ir.yaml", archc::ir::ir_to_yaml(&ir))];
    let dot = archc::draw::graph_to_dot(&g);
    let boxes = archc::draw::drawn_count(&g);
    let too_big = boxes > archc::draw::MAX_DRAWN;
    if too_big && !args.no_svg {
        eprintln!(
            "warning: not drawing graph.svg: {boxes} boxes is over {} (the layout would take minutes); graph.dot is written, e.g. for Graphviz",
            archc::draw::MAX_DRAWN
        );
    }
    if !args.no_svg && !too_big {
        match archc::draw::dot_to_svg(&dot) {
            Ok(svg) => files.push(("graph.svg", svg)),
            Err(e) => {
                eprintln!(
                    "error: drawing the graph failed: {e} (use --no-svg to skip the picture)"
                );
                return ExitCode::from(2);
            }
        }
    }
    files.push(("graph.dot", dot));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("build").join(&g.name));
    if let Err(e) = write_dir_atomic(&out, &files) {
        eprintln!("error: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    let mut w = Workload::default_for(&g);
    w.batch = args.batch;
    if let Some(seq) = args.seq {
        w.seq = seq;
    }
    let summary = graph_to_summary(&g, w);
    let text = match args.format {
        SummaryFormat::Table => crate::summary::table(&summary, &out),
        SummaryFormat::Json => serde_json::to_string_pretty(&summary).unwrap_or_default(),
        SummaryFormat::Yaml => serde_norway::to_string(&summary).unwrap_or_default(),
    };
    println!("{text}");
    ExitCode::SUCCESS
}

/// Writes `files` into a fresh directory beside `dir`, then swaps it into place.
fn write_dir_atomic(dir: &Path, files: &[(&str, String)]) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let base = dir.file_name().and_then(|n| n.to_str()).unwrap_or("build");
    let tmp = parent.join(format!(".{base}.archc-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        std::fs::create_dir(&tmp)?;
        for (name, text) in files {
            std::fs::write(tmp.join(name), text)?;
        }
        if dir.is_dir() {
            let old = parent.join(format!(".{base}.archc-old-{}", std::process::id()));
            std::fs::rename(dir, &old)?;
            std::fs::rename(&tmp, dir).inspect_err(|_| {
                let _ = std::fs::rename(&old, dir);
            })?;
            let _ = std::fs::remove_dir_all(&old);
            Ok(())
        } else {
            std::fs::rename(&tmp, dir)
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
