//! `archc gen torch`: the generated PyTorch model computes what the runtime computes — same
//! weights, same batch, every head to 1e-5 relative in f32 on CPU — for GPT-2-tiny and the
//! tiny perfect VLM (a bidirectional image span, mask tokens, an entropy-gated loop); the
//! output is byte-identical on every run; hostile names cannot break out of it.
//!
//! Needs Python 3 with torch and safetensors (`.ci/run` installs them).

use archc_runtime::draws::draw_for_training;
use archc_runtime::model::graph_to_model_seeded;
use archc_runtime::rng::Rng;
use archc_runtime::train::{data_spec, to_batch};
use archc_runtime::weights::Saver;
use burn::backend::NdArray;
use std::path::{Path, PathBuf};
use std::process::Command;

type B = NdArray<f32>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archc-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn python() -> String {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import torch, safetensors"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test needs `{py}` with torch and safetensors: pip install torch safetensors numpy (.ci/run installs them)"
    );
    py
}

fn gen(file: &Path, out: &Path) {
    gen_target("torch", file, out)
}

fn gen_target(target: &str, file: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args([
            "gen",
            target,
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn graph(file: &Path) -> archc::graph::ArchGraph {
    let src = std::fs::read_to_string(file).unwrap();
    let c = archc::check_source(&src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c.graph.unwrap()
}

/// Weights, a batch (with drawn mask rows) and the runtime's outputs, as files in a fresh
/// directory: `weights.safetensors`, `batch.safetensors`, `expected.safetensors`.
fn runtime_fixture(file: &Path, dir: &Path) {
    let g = graph(file);
    let device = Default::default();
    let (m, plan) = graph_to_model_seeded::<B>(&g, &device, 5).unwrap();
    std::fs::write(dir.join("weights.safetensors"), m.save(&plan)).unwrap();
    let spec = data_spec(&g, 2, None);
    let mut source = archc_runtime::data::open("synthetic", &spec).unwrap();
    let host = source.next_batch(&mut Rng::new(3)).unwrap();
    let mut batch = to_batch::<B>(&host, &device);
    draw_for_training(&plan, &mut batch, &mut Rng::new(4));
    let out = m.forward_batch(&plan, &batch).unwrap();

    let mut ints = Vec::new();
    let mut floats = Saver::default();
    for (stem, t) in &batch.ids {
        ints.push((
            format!("{stem}.ids"),
            t.dims().to_vec(),
            t.clone().into_data().to_vec::<i64>().unwrap(),
        ));
    }
    for (stem, t) in &batch.masked {
        let v: Vec<i64> = t
            .clone()
            .int()
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        ints.push((format!("{stem}.masked"), t.dims().to_vec(), v));
    }
    for (stem, t) in &batch.features {
        floats.put(format!("{stem}.features"), t.clone());
    }
    let layout: Vec<String> = batch
        .layout
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    std::fs::write(
        dir.join("batch.safetensors"),
        floats.to_bytes_with(&ints, &[("layout", layout.join(","))]),
    )
    .unwrap();
    let mut expected = Saver::default();
    for (h, t) in &out.heads {
        expected.put(h.clone(), t.clone());
    }
    for (l, n) in &out.loop_steps {
        expected.put_raw(format!("steps.{l}"), vec![1], vec![*n as f32]);
    }
    std::fs::write(dir.join("expected.safetensors"), expected.to_bytes()).unwrap();
}

/// The generated PyTorch model on the runtime's fixture.
fn equal_to_the_runtime(model: &str) -> String {
    equal_file_to_the_runtime(&root().join("models").join(model))
}

fn equal_file_to_the_runtime(file: &Path) -> String {
    let py = python();
    let model = file.file_name().unwrap().to_string_lossy().into_owned();
    let file = file.to_path_buf();
    let dir = tmp(&format!("torch-{}", model.trim_end_matches(".arch")));
    runtime_fixture(&file, &dir);
    gen(&file, &dir.join("gen"));
    let o = Command::new(py)
        .arg(root().join("tests/gen/check_torch.py"))
        .args([
            "gen",
            "weights.safetensors",
            "batch.safetensors",
            "expected.safetensors",
            "1e-5",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{model}: {report}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    report
}

#[test]
fn gpt2_tiny_in_pytorch_equals_the_runtime() {
    let r = equal_to_the_runtime("gpt2-tiny.arch");
    eprintln!("gpt2-tiny: {r}");
    assert!(r.contains("\"lm\""), "{r}");
}

#[test]
fn the_tiny_perfect_vlm_in_pytorch_equals_the_runtime() {
    let r = equal_to_the_runtime("perfect-vlm-tiny.arch");
    eprintln!("perfect-vlm-tiny: {r}");
    for head in ["\"lm\"", "\"gen\"", "\"siglip\"", "\"steps.think\": [4, 4]"] {
        assert!(r.contains(head), "{head} not in {r}");
    }
}

/// A diffusion head's output is its latent, in PyTorch as in the runtime.
#[test]
fn a_diffusion_model_in_pytorch_equals_the_runtime() {
    let dir = tmp("torch-diffusion-src");
    let file = dir.join("diffusion_tiny.arch");
    std::fs::write(&file, DIFFUSION_MODEL).unwrap();
    let r = equal_file_to_the_runtime(&file);
    eprintln!("diffusion_tiny: {r}");
    assert!(r.contains("\"pix\"") && r.contains("\"lm\""), "{r}");
}

/// The same file gives the same bytes, every file, on every run.
#[test]
fn generated_code_is_byte_identical_across_runs() {
    let file = root().join("models/perfect-vlm-tiny.arch");
    for (target, files) in [
        (
            "torch",
            &["model.py", "train.py", "requirements.txt", "README.md"][..],
        ),
        (
            "rust",
            &[
                "Cargo.toml",
                "src/lib.rs",
                "src/layers.rs",
                "src/batch.rs",
                "src/weights.rs",
                "src/model.rs",
                "src/main.rs",
            ][..],
        ),
    ] {
        let (a, b) = (
            tmp(&format!("det-a-{target}")),
            tmp(&format!("det-b-{target}")),
        );
        gen_target(target, &file, &a);
        gen_target(target, &file, &b);
        for f in files {
            assert_eq!(
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
                "{target}: {f}"
            );
        }
    }
}

/// Names that are Python keywords or `nn.Module` attributes, and MAR's diffusion MLP,
/// become the same parameter names in PyTorch as in the runtime; names the grammar does not allow never reach a
/// generator.
#[test]
fn hostile_names_keep_their_parameter_names_and_inject_nothing() {
    let py = python();
    let src = "param d = 16
block b(width = d) {
  width:     width
  norm:      layernorm(bias = true)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = 32, bias = true)
}
stem class: tokens(vocab = 32, max_len = 16) {
  embed: embedding(dim = d)
}
trunk {
  blocks: b x 1
}
head forward: text(target = class) {
  blocks:    b x 1
  norm:      layernorm(bias = true)
  objective: next_token
}
layer _modules: linear(out = d) { from: trunk.out }
layer train: b { from: trunk.out }
";
    for (name, src) in [
        ("hostile", src),
        ("hostile_rust", HOSTILE_RUST),
        ("diffusion_tiny", DIFFUSION_MODEL),
    ] {
        let dir = tmp(name);
        let file = dir.join(format!("{name}.arch"));
        std::fs::write(&file, src).unwrap();
        let g = graph(&file);
        let (m, plan) = graph_to_model_seeded::<B>(&g, &Default::default(), 0).unwrap();
        std::fs::write(dir.join("weights.safetensors"), m.save(&plan)).unwrap();
        gen(&file, &dir.join("gen"));
        let check = "import sys; sys.path.insert(0, 'gen'); import model as M; from safetensors.torch import load_file; \
                     m = M.Model(); w = load_file('weights.safetensors'); m.load_state_dict(w, strict=True); \
                     print(sorted(m.state_dict()) == sorted(w))";
        let o = Command::new(&py)
            .args(["-c", check])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "True",
            "{name}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    // What the grammar refuses is refused before any generator runs.
    for bad in [
        "stem \"x\": tokens(vocab = 8, max_len = 8) {}",
        "stem a\nb: tokens(vocab = 8, max_len = 8) {}",
        "stem é: tokens(vocab = 8, max_len = 8) {}",
        "stem x\"); import os #: tokens(vocab = 8, max_len = 8) {}",
    ] {
        let c = archc::check_source(bad, &archc::CheckOptions::default());
        assert!(c.has_errors() && c.graph.is_none(), "{bad:?} was accepted");
    }
}

fn archc(args: &[&str], dir: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "archc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The generated train.py trains 5 steps on the built-in task (written by `archc data`),
/// one process and two under torchrun with DDP and FSDP2 (gloo, CPU); the weights it writes
/// load back into the runtime by name (`archc run --weights`).
#[test]
fn generated_train_py_trains_and_its_weights_load_back() {
    let py = python();
    for model in ["gpt2-tiny.arch", "perfect-vlm-tiny.arch"] {
        let file = root().join("models").join(model);
        let f = file.to_str().unwrap();
        let dir = tmp(&format!("train-{}", model.trim_end_matches(".arch")));
        archc(&["gen", "torch", f, "-o", "gen"], &dir);
        archc(
            &["data", f, "--examples", "32", "-o", "data.safetensors"],
            &dir,
        );
        let o = Command::new(&py)
            .args([
                "train.py",
                "--data",
                "../data.safetensors",
                "--steps",
                "5",
                "--log-every",
                "1",
                "--out",
                "../out",
            ])
            .current_dir(dir.join("gen"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{model}: {log}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(log.contains("step 5/5"), "{log}");
        let run = archc(&["run", f, "--weights", "out/model.safetensors"], &dir);
        assert!(run.contains("head lm"), "{run}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Several processes: DDP and FSDP2 on CPU (gloo), through torchrun.
    let file = root().join("models/perfect-vlm-tiny.arch");
    let f = file.to_str().unwrap();
    let dir = tmp("torchrun");
    archc(&["gen", "torch", f, "-o", "gen"], &dir);
    archc(
        &["data", f, "--examples", "32", "-o", "data.safetensors"],
        &dir,
    );
    for parallel in ["ddp", "fsdp"] {
        let o = Command::new(&py)
            .args([
                "-m",
                "torch.distributed.run",
                "--nproc-per-node",
                "2",
                "train.py",
                "--data",
                "../data.safetensors",
            ])
            .args([
                "--steps",
                "3",
                "--batch",
                "4",
                "--parallel",
                parallel,
                "--out",
                &format!("../{parallel}"),
            ])
            .current_dir(dir.join("gen"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{parallel}: {log}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(log.contains("step 3/3"), "{parallel}: {log}");
        let run = archc(
            &[
                "run",
                f,
                "--weights",
                &format!("{parallel}/model.safetensors"),
            ],
            &dir,
        );
        assert!(run.contains("head siglip"), "{run}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `(shape, f32 data)` of every tensor of a safetensors file.
fn tensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            let d = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (n, (v.shape().to_vec(), d))
        })
        .collect()
}

/// Item names that are Rust keywords (`type`, `fn`; `self` cannot even be a raw
/// identifier) and a Python keyword: their parameter names must survive both targets.
const HOSTILE_RUST: &str = "model hostile_rust
param d = 16
block b(width = d) {
  width:     width
  norm:      rmsnorm()
  attention: attention(heads = 2, positions = rope(theta = 10000.0))
  mlp:       swiglu(hidden = 32)
}
stem type: tokens(vocab = 32, max_len = 64) {
  embed: embedding(dim = d)
  blocks: b x 1
}
trunk {
  blocks: b x 1
}
head self: text(target = type) {
  blocks:    b x 1
  norm:      rmsnorm()
  objective: next_token
}
layer fn: linear(out = d) { from: trunk.out }
loop lambda: trunk.out -> trunk.in {
  steps:  fixed(2)
  inject: concat_linear
}
";

/// A diffusion head (MAR's MLP, with its names) beside a text head.
const DIFFUSION_MODEL: &str = "model diffusion_tiny
param d = 16
block b(width = d) {
  width:     width
  norm:      layernorm(bias = true)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = 32, bias = true)
}
stem text: tokens(vocab = 32, max_len = 64) {
  embed: embedding(dim = d)
}
stem image: features(dim = 8, rows = 4) {
  adapter: mlp(layers = 1, hidden = d, out = d, act = gelu)
}
trunk {
  from:   [image, text]
  blocks: b x 1
}
head lm: text(target = text) {
  blocks:    b x 1
  objective: next_token
}
head pix: diffusion(target = image) {
  blocks:    b x 1
  objective: diffusion(layers = 2, width = 24, steps = 50)
}
";

/// The generated Rust crates (GPT-2-tiny, the tiny perfect VLM, a model whose names are
/// Rust keywords, and one with a diffusion head) build with no archc dependency, pass `cargo fmt --check` and
/// `cargo clippy -D warnings`, and their forward binary gives the runtime's outputs on the
/// runtime's weights and batch: every head to 1e-5 of its largest value, every loop the
/// same passes. The crates share one target directory (target/gen-crates) and the
/// workspace's Cargo.lock, so burn builds once.
#[test]
fn generated_rust_crates_build_lint_clean_and_equal_the_runtime() {
    let target = root().join("target/gen-crates");
    let extra = tmp("rust-models");
    let (hostile, diffusion) = (
        extra.join("hostile_rust.arch"),
        extra.join("diffusion_tiny.arch"),
    );
    std::fs::write(&hostile, HOSTILE_RUST).unwrap();
    std::fs::write(&diffusion, DIFFUSION_MODEL).unwrap();
    let models = [
        root().join("models/gpt2-tiny.arch"),
        root().join("models/perfect-vlm-tiny.arch"),
        hostile,
        diffusion,
    ];
    for file in &models {
        let model = file.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tmp(&format!("rust-{}", model.trim_end_matches(".arch")));
        runtime_fixture(file, &dir);
        let krate = dir.join("crate");
        gen_target("rust", file, &krate);
        std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
        let cargo = |args: &[&str]| {
            let o = Command::new(env!("CARGO"))
                .args(args)
                .env("CARGO_TARGET_DIR", &target)
                .current_dir(&krate)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{model}: cargo {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        cargo(&["fmt", "--check"]);
        cargo(&["clippy", "--release", "--offline", "--", "-D", "warnings"]);
        cargo(&["build", "--release", "--offline"]);
        let name = format!("{}_model", graph(file).name);
        let o = Command::new(target.join("release").join(&name))
            .args([
                "forward",
                "weights.safetensors",
                "batch.safetensors",
                "out.safetensors",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let (got, want) = (
            tensors(&dir.join("out.safetensors")),
            tensors(&dir.join("expected.safetensors")),
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{model}"
        );
        let mut report = Vec::new();
        for (name, (shape, w)) in &want {
            let (gs, g) = &got[name];
            assert_eq!(gs, shape, "{model}: {name}");
            let scale = w.iter().fold(1e-30f32, |m, x| m.max(x.abs()));
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
                / scale;
            report.push(format!("{name} {worst:.1e}"));
            assert!(worst <= 1e-5, "{model}: {name} differs by {worst}");
        }
        eprintln!("{model}: {}", report.join(", "));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
