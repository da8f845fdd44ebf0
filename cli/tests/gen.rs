//! `archc gen torch`: the generated PyTorch model computes what the runtime computes — same
//! weights, same batch, every head to 1e-5 relative in f32 on CPU — for GPT-2-tiny and the
//! tiny perfect VLM (a bidirectional image span, mask tokens, an entropy-gated loop); the
//! output is byte-identical on every run; hostile names cannot break out of it.
//!
//! Needs Python 3 with torch and safetensors (`.ci/run` installs them).

mod gen_common;

use archc_runtime::model::graph_to_model_seeded;
use gen_common::*;
use std::path::Path;
use std::process::Command;

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
    for head in ["\"pix\"", "\"lm\"", "\"var\""] {
        assert!(r.contains(head), "{head} not in {r}");
    }
}

/// GPT-BERT's `mntp` (per sequence: causal, or bidirectional over its masked text) and a
/// z-loss, in PyTorch as in the runtime, on a batch with one causal and one masked
/// sequence.
#[test]
fn an_mntp_model_in_pytorch_equals_the_runtime() {
    let dir = tmp("torch-mntp-src");
    let file = dir.join("hostile_rust.arch");
    std::fs::write(&file, HOSTILE_RUST).unwrap();
    let r = equal_file_to_the_runtime(&file);
    eprintln!("hostile_rust: {r}");
    assert!(r.contains("\"self\""), "{r}");
}

/// The same file gives the same bytes, every file, on every run.
#[test]
fn generated_code_is_byte_identical_across_runs() {
    let file = root().join("models/perfect-vlm-tiny.arch");
    for target in ["torch", "rust"] {
        let (a, b) = (
            tmp(&format!("det-a-{target}")),
            tmp(&format!("det-b-{target}")),
        );
        gen_target(target, &file, &a);
        gen_target(target, &file, &b);
        let (fa, fb) = (files_under(&a), files_under(&b));
        assert_eq!(fa, fb, "{target}: the same files");
        let needed: &[&str] = match target {
            "torch" => &["model.py", "train.py"],
            _ => &["src/model.rs", "nn/src/lib.rs", "nn/Cargo.toml"],
        };
        for n in needed {
            assert!(
                fa.iter().any(|f| f.as_path() == std::path::Path::new(n)),
                "{target}: {fa:?}"
            );
        }
        for f in &fa {
            assert_eq!(
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
                "{target}: {}",
                f.display()
            );
        }
    }
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(d: &std::path::Path, root: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
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

/// The generated train.py trains 5 steps on the built-in task (written by `archc data`),
/// one process and two under torchrun with DDP and FSDP2 (gloo, CPU); the weights it writes
/// load back into the runtime by name (`archc run --weights`).
#[test]
fn generated_train_py_trains_and_its_weights_load_back() {
    let py = python();
    // The diffusion model also has a `next_scale` stem (its `vq_ce` scores position k's
    // own code) and a prefix; the hostile one GPT-BERT's `mntp`.
    let src = tmp("train-py-diffusion-src");
    std::fs::write(src.join("diffusion_tiny.arch"), DIFFUSION_MODEL).unwrap();
    std::fs::write(src.join("hostile_rust.arch"), HOSTILE_RUST).unwrap();
    let files = [
        (root().join("models/gpt2-tiny.arch"), "lm"),
        (root().join("models/perfect-vlm-tiny.arch"), "lm"),
        (src.join("diffusion_tiny.arch"), "lm"),
        (src.join("hostile_rust.arch"), "self"),
    ];
    for (file, head) in &files {
        let model = file.file_name().unwrap().to_str().unwrap();
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
        assert!(run.contains(&format!("head {head}")), "{run}");
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
