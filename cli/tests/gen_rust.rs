//! `archc gen rust`: the generated crate builds with no archc dependency, lint-clean, and
//! computes what archc computes. Its forward equals the runtime's on the runtime's weights
//! and batch; its `train` writes the same metrics and byte-identical checkpoints as
//! `archc train` (same seed, same shards), and a run moves between the two mid-way.

mod gen_common;

use gen_common::*;
use std::path::Path;
use std::process::Command;

/// The generated Rust crates (GPT-2-tiny, the tiny perfect VLM, a model whose names are
/// Rust keywords, and one with a diffusion head) build with no archc dependency, pass `cargo fmt --check` and
/// `cargo clippy -D warnings`, and their forward binary gives the runtime's outputs on the
/// runtime's weights and batch: every head to 1e-5 of its largest value, every loop the
/// same passes. Then each trains: `train` 5 steps and `archc train` 5 steps on the same
/// shards and seed write the same losses and byte-identical checkpoints, and a run started
/// by either is resumed by the other and ends where the uninterrupted one does. The crates
/// share one target directory (target/gen-crates) and the workspace's Cargo.lock, so burn
/// builds once.
#[test]
fn generated_rust_crates_build_lint_clean_equal_the_runtime_and_train_as_archc_does() {
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
        trains_as_archc_does(file, &target.join("release").join(&name), &dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The settings both trainers run with: a schedule of 5 steps, checkpoints at 3 and 5.
const RUN: &[&str] = &[
    "--data",
    "shards:shard.safetensors",
    "--steps",
    "5",
    "--batch",
    "2",
    "--seed",
    "11",
    "--checkpoint-every",
    "3",
    "--clip",
    "0.5",
    "--accum",
    "2",
];

/// Runs `cmd` in `dir` and returns its stdout, failing with its stderr.
fn run(mut cmd: Command, dir: &Path, what: &str) -> String {
    let o = cmd.current_dir(dir).output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The metrics without the timing columns (`tokens_per_s`, `elapsed_s`).
fn losses(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !matches!(header[i], "tokens_per_s" | "elapsed_s"))
        .collect();
    std::iter::once(header.join(","))
        .chain(lines.map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",")
        }))
        .collect()
}

fn checkpoint(run: &Path, step: u64) -> Vec<(String, Vec<u8>)> {
    let dir = run.join("checkpoints").join(format!("step-{step:08}"));
    ["model.safetensors", "optimizer.safetensors", "state.json"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// A copy of run `from` cut back to its step-3 checkpoint, as if it had been stopped there.
fn stopped_at_3(from: &Path, to: &Path) {
    let ck = to.join("checkpoints");
    std::fs::create_dir_all(&ck).unwrap();
    let src = from.join("checkpoints/step-00000003");
    std::fs::create_dir_all(ck.join("step-00000003")).unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, ck.join("step-00000003").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(ck.join("latest"), "step-00000003").unwrap();
    std::fs::copy(from.join("metrics.csv"), to.join("metrics.csv")).unwrap();
}

/// `binary train` and `archc train`, same shards and seed (gradient accumulation and
/// clipping on): the same metrics and byte-identical checkpoints; and each resumes the
/// other's step-3 checkpoint to the same step-5 checkpoint.
fn trains_as_archc_does(file: &Path, binary: &Path, dir: &Path) {
    let model = file.file_name().unwrap().to_string_lossy().into_owned();
    let file = file.to_str().unwrap();
    archc(
        &["data", file, "-o", "shard.safetensors", "--examples", "32"],
        dir,
    );
    let ours = |out: &str, resume: bool| {
        let mut c = Command::new(binary);
        c.arg("train").args(RUN).args(["-o", out]);
        if resume {
            c.arg("--resume");
        }
        run(c, dir, &format!("{model}: the crate's train -o {out}"))
    };
    let theirs = |out: &str, resume: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_archc"));
        c.args(["train", file]).args(RUN).args(["-o", out]);
        if resume {
            c.arg("--resume");
        }
        run(c, dir, &format!("{model}: archc train -o {out}"))
    };
    ours("crate", false);
    theirs("archc", false);
    let (a, b) = (dir.join("crate"), dir.join("archc"));
    let first = losses(&a);
    assert_eq!(first.len(), 6, "{model}: {first:?}");
    assert_eq!(first, losses(&b), "{model}: the metrics differ");
    for step in [3, 5] {
        for ((f, x), (_, y)) in checkpoint(&a, step).iter().zip(checkpoint(&b, step)) {
            assert!(*x == y, "{model}: step {step}: {f} differs from archc's");
        }
    }
    // A run moves both ways: archc resumes the crate's run, the crate resumes archc's.
    stopped_at_3(&a, &dir.join("crate-then-archc"));
    theirs("crate-then-archc", true);
    stopped_at_3(&b, &dir.join("archc-then-crate"));
    ours("archc-then-crate", true);
    for resumed in ["crate-then-archc", "archc-then-crate"] {
        let r = dir.join(resumed);
        assert_eq!(losses(&r), first, "{model}: {resumed}: the metrics differ");
        for ((f, x), (_, y)) in checkpoint(&r, 5).iter().zip(checkpoint(&b, 5)) {
            assert!(
                *x == y,
                "{model}: {resumed}: {f} differs from the uninterrupted run's"
            );
        }
    }
    eprintln!("{model}: 5 training steps equal archc's: {}", first[5]);
}

/// The crate's `train` refuses what `archc train` refuses, with exit 2 and the reason:
/// no data, bad options, shards of another model, resuming with other settings or
/// without a checkpoint, and a directory that already holds a run.
#[test]
fn the_generated_trainer_refuses_bad_input_with_a_reason() {
    let target = root().join("target/gen-crates");
    let dir = tmp("rust-refusals");
    let file = root().join("models/gpt2-tiny.arch");
    let krate = dir.join("crate");
    gen_target("rust", &file, &krate);
    std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let o = Command::new(env!("CARGO"))
        .args(["build", "--release", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&krate)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bin = target.join("release/gpt2_tiny_model");
    let f = file.to_str().unwrap();
    archc(
        &["data", f, "-o", "shard.safetensors", "--examples", "8"],
        &dir,
    );
    let vlm = root().join("models/perfect-vlm-tiny.arch");
    archc(
        &[
            "data",
            vlm.to_str().unwrap(),
            "-o",
            "vlm.safetensors",
            "--examples",
            "8",
        ],
        &dir,
    );
    std::fs::write(dir.join("junk.safetensors"), b"not a shard").unwrap();
    let refuse = |args: &[&str], why: &str| {
        let o = Command::new(&bin)
            .arg("train")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: expected `{why}` in: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    };
    refuse(&[], "--data is required");
    refuse(
        &["--data", "shard.safetensors", "--lr", "-1"],
        "--lr must be a positive number",
    );
    refuse(
        &["--data", "shard.safetensors", "--steps", "x"],
        "--steps: `x` is not a valid value",
    );
    refuse(
        &["--data", "shard.safetensors", "--bogus"],
        "unknown option `--bogus`",
    );
    refuse(&["--data", "missing.safetensors"], "missing.safetensors");
    refuse(
        &["--data", "junk.safetensors"],
        "not a readable safetensors file",
    );
    refuse(&["--data", "vlm.safetensors"], "which the model lacks");
    refuse(
        &["--data", "shard.safetensors", "--resume", "-o", "none"],
        "is not a checkpoint",
    );
    let ok = Command::new(&bin)
        .args([
            "train",
            "--data",
            "shard.safetensors",
            "--steps",
            "2",
            "--batch",
            "2",
            "-o",
            "r",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    refuse(
        &[
            "--data",
            "shard.safetensors",
            "--steps",
            "4",
            "--batch",
            "2",
            "-o",
            "r",
        ],
        "already holds a run",
    );
    refuse(
        &[
            "--data",
            "shard.safetensors",
            "--steps",
            "4",
            "--batch",
            "3",
            "-o",
            "r",
            "--resume",
        ],
        "--batch 3 (the run's is 2)",
    );
    refuse(
        &[
            "--data",
            "shard.safetensors",
            "--steps",
            "2",
            "--batch",
            "2",
            "-o",
            "r",
            "--resume",
        ],
        "raise --steps",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
