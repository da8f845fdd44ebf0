//! `archc`: the command-line driver. It reads files, calls the pure compiler, renders
//! diagnostics and picks exit codes: 0 clean (warnings allowed), 1 diagnostics, 2 usage or IO.

mod budget;
mod build;
mod compare;
mod diff;
mod gen;
mod plot;
mod render;
mod run;
mod sample;
mod summary;
mod train;

use archc::{CheckOptions, DEFAULT_MAX_PARAM_BYTES};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "archc",
    version,
    about = "A checked language for neural-network architectures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Emit {
    Ast,
    Graph,
    Ir,
}

#[derive(clap::Args, Clone)]
pub struct Instantiate {
    /// Override a parameter: `--set d=64` (repeatable; wins over the scale).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Apply the file's `scale smoke { ... }`.
    #[arg(long)]
    smoke: bool,
    /// Apply another named scale.
    #[arg(long, conflicts_with = "smoke")]
    scale: Option<String>,
    /// Refuse models whose f32 parameters take more bytes than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PARAM_BYTES)]
    max_params_bytes: u128,
}

// Parsed once per process: the size of the largest variant (train's options) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check files: exit 0 if clean (warnings allowed), 1 on diagnostics, 2 on usage/IO errors.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        inst: Instantiate,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Print an intermediate form of a clean file (JSON).
        #[arg(long, value_enum)]
        emit: Option<Emit>,
    },
    /// Explain a diagnostic code: `archc explain A0701`.
    Explain { code: String },
    /// Write the IR, DOT and SVG into a directory and print what the model costs.
    Build(build::BuildArgs),
    /// Compare two models (.arch or IR): exit 0 equal, 1 different, 2 on error.
    Diff(diff::DiffArgs),
    /// Run a model once on random token ids (CPU, or CUDA in a `--features cuda` build):
    /// output shapes and checksums, parameters, forward (and --backward) time.
    Run(run::RunArgs),
    /// Train a model on the built-in task or a data file: progress, per-step metrics,
    /// checkpoints (resumable), a loss curve. Exit 3 if a loss becomes NaN or infinite.
    Train(train::TrainArgs),
    /// Generate from a checkpoint with a KV cache; loops report their passes per token.
    Sample(sample::SampleArgs),
    /// Train several models on the same data, seed and token budget; a table of final
    /// per-head losses and tokens/s, and the loss curves in one picture.
    Compare(compare::CompareArgs),
    /// Generate standalone code for the model: `archc gen torch FILE -o DIR`.
    Gen(gen::GenArgs),
    /// Write training data for a model as a safetensors shard (docs/data.md).
    Data(gen::DataArgs),
    /// Rewrite files in the canonical layout (or, with --check, report which differ).
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing: list the files that are not in the canonical layout (exit 1).
        #[arg(long)]
        check: bool,
    },
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected NAME=VALUE, found `{s}`")),
    }
}

impl Instantiate {
    /// Whether any option that instantiates a `.arch` file was given.
    fn is_set(&self) -> bool {
        !self.set.is_empty() || self.smoke || self.scale.is_some()
    }

    fn options(&self) -> CheckOptions {
        let scale = if self.smoke {
            Some("smoke".to_string())
        } else {
            self.scale.clone()
        };
        CheckOptions {
            resolve: archc::resolve::Options {
                scale,
                overrides: self.set.clone(),
            },
            max_param_bytes: self.max_params_bytes,
        }
    }
}

/// The compiler recurses on nested expressions and parameter chains (both bounded);
/// a generous stack keeps those bounds far from the platform's default 8 MB.
const STACK_BYTES: usize = 256 << 20;

fn main() -> ExitCode {
    // Output piped into `head` ends the process quietly, as it does for other Unix tools,
    // instead of a panic on the broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli))
    {
        Ok(worker) => worker.join().unwrap_or(ExitCode::from(101)),
        Err(e) => {
            eprintln!("error: cannot start the compiler thread: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check {
            files,
            inst,
            format,
            emit,
        } => check(&files, &inst.options(), format, emit),
        Command::Explain { code } => match archc::explain::page(&code) {
            Some(page) => {
                print!("{page}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("error: no diagnostic has the code `{code}`; codes look like A0701 (see `archc explain A0001`)");
                ExitCode::from(2)
            }
        },
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Build(args) => build::build(&args),
        Command::Diff(args) => diff::diff(&args),
        Command::Run(args) => run::run(&args),
        Command::Train(args) => train::train(&args),
        Command::Sample(args) => sample::sample(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Gen(args) => gen::gen(&args),
        Command::Data(args) => gen::export(&args),
    }
}

/// Reads a file; an unreadable one is an IO error (exit 2).
/// A model file's bytes (`.arch` or IR), refused when checking it could not fit in memory.
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    if path.is_dir() {
        return Err(format!(
            "{}: is a directory, not a .arch file",
            path.display()
        ));
    }
    // Checking a file holds about 150 bytes of memory per byte of a `.arch` file and 50
    // per byte of an IR (measured: 100,000 `let` aliases, 1.3 MB of source, build in 202
    // MiB; their 16 MB IR checks in 805 MiB); refuse one that could not fit.
    const PER_BYTE: u128 = 200;
    if let (Ok(meta), Some((have, source))) = (std::fs::metadata(path), budget::available()) {
        let need = u128::from(meta.len()).saturating_mul(PER_BYTE);
        if need > have {
            return Err(format!(
                "{}: is {}; checking it would need about {} of memory ({PER_BYTE} bytes per byte of text), more than the {} the system has available ({source})",
                path.display(),
                summary::bytes(u128::from(meta.len())),
                summary::bytes(need),
                summary::bytes(have)
            ));
        }
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks one file's bytes, a `.arch` file or an IR (`.yaml`, `.yml`, `.json`: what
/// `archc build` writes, read back through the same checks): the text its diagnostics
/// point into (the file without a byte-order mark, or its bytes as they are when they are
/// not UTF-8), and the result.
pub(crate) fn check_file<'a>(
    path: &std::path::Path,
    bytes: &'a [u8],
    opts: &CheckOptions,
) -> (&'a [u8], archc::Checked) {
    match archc::decode(bytes) {
        Ok(src) if build::is_ir(path) => (src.as_bytes(), archc::check_ir(src, opts)),
        Ok(src) => (src.as_bytes(), archc::check_source(src, opts)),
        Err(d) => (
            bytes,
            archc::Checked {
                diagnostics: vec![d],
                ..Default::default()
            },
        ),
    }
}

fn check(files: &[PathBuf], opts: &CheckOptions, format: Format, emit: Option<Emit>) -> ExitCode {
    let mut worst = 0u8;
    let mut json = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let bytes = match read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                worst = 2;
                continue;
            }
        };
        let (src, checked) = check_file(path, &bytes, opts);
        if checked.has_errors() {
            worst = worst.max(1);
        }
        match format {
            Format::Human => render::human(&checked.diagnostics, &name, src),
            Format::Json => json.extend(
                checked
                    .diagnostics
                    .iter()
                    .map(|d| archc::render::to_json(d, &name, src)),
            ),
        }
        if let (Some(emit), false) = (emit, checked.has_errors()) {
            let out = match emit {
                Emit::Ast => serde_json::to_string_pretty(&checked.ast).unwrap_or_default(),
                Emit::Graph => checked
                    .graph
                    .as_ref()
                    .map(|g| {
                        serde_json::to_string_pretty(&archc::graph::graph_to_json(g))
                            .unwrap_or_default()
                    })
                    .unwrap_or_default(),
                Emit::Ir => checked
                    .graph
                    .as_ref()
                    .map(|g| {
                        serde_json::to_string_pretty(&archc::graph_to_ir(g)).unwrap_or_default()
                    })
                    .unwrap_or_default(),
            };
            println!("{out}");
        }
    }
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| "[]".into())
        );
    }
    ExitCode::from(worst)
}

fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
    let mut worst = 0u8;
    for path in files {
        let name = path.display().to_string();
        let bytes = match read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                worst = 2;
                continue;
            }
        };
        let src = match archc::decode(&bytes) {
            Ok(s) => s,
            Err(d) => {
                render::human(&[d], &name, &bytes);
                worst = worst.max(1);
                continue;
            }
        };
        let (ast, errors) = archc::source_to_ast(src);
        if !errors.is_empty() {
            let diags: Vec<_> = errors
                .into_iter()
                .map(|error| archc::diag::Diagnostic {
                    severity: error.default_severity(),
                    error,
                })
                .collect();
            render::human(&diags, &name, src.as_bytes());
            worst = worst.max(1);
            continue;
        }
        let mut formatted = archc::fmt::ast_to_source(&ast, src);
        // A byte-order mark the file starts with is kept.
        if bytes.starts_with(archc::UTF8_BOM) {
            formatted.insert(0, '\u{feff}');
        }
        if formatted.as_bytes() == bytes.as_slice() {
            continue;
        }
        if check_only {
            println!("{name}: not formatted");
            worst = worst.max(1);
        } else if let Err(e) = write_atomic(path, &formatted) {
            eprintln!("error: {}: {e}", path.display());
            worst = 2;
        }
    }
    ExitCode::from(worst)
}

/// Writes beside the file, then renames over it: an interrupted write loses nothing.
fn write_atomic(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.archc-fmt.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
