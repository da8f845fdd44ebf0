//! `archc run`: one forward (and backward) on random ids, weights loaded by name, and every
//! failure (a device that is not there, weights that do not fit, a model the runtime
//! cannot run yet) a clear message with exit 2, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

fn archc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .output()
        .expect("run archc")
}

fn code(o: &Output) -> i32 {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "panic:\n{err}");
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `head ...` lines: shapes and checksums, without the timings.
fn heads(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .filter(|l| l.starts_with("head "))
        .map(str::to_string)
        .collect()
}

const WEIGHTS: &str = "tests/fixtures/gpt2_ref/weights.safetensors";

#[test]
fn gpt2_tiny_runs_and_prints_the_lm_head_shape() {
    let o = archc(&["run", &path("models/gpt2-tiny.arch")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("head lm: [2, 32, 256]"), "{out}");
    assert!(out.contains("parameters: 124,672"), "{out}");
    assert!(out.contains("input text: [2, 32]"), "{out}");
    assert!(out.contains("forward: "), "{out}");
    assert!(!out.contains("backward"), "{out}");
}

#[test]
fn batch_and_seq_set_the_input_shape() {
    let o = archc(&[
        "run",
        &path("models/gpt2-tiny.arch"),
        "--batch",
        "3",
        "--seq",
        "7",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("head lm: [3, 7, 256]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn backward_runs_and_finds_gradients() {
    let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--backward"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("head lm: [2, 32, 256]"), "{out}");
    assert!(out.contains("loss: "), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("backward: "))
        .unwrap_or_else(|| panic!("no backward line:\n{out}"));
    assert!(line.contains("gradients for "), "{line}");
    assert!(!line.contains("gradients for 0 "), "{line}");
}

#[test]
fn cuda_without_the_feature_says_how_to_rebuild() {
    if cfg!(feature = "cuda") {
        return; // a CUDA build answers by what the machine has
    }
    let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--device", "cuda"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("built without CUDA"), "{err}");
    assert!(
        err.contains("cargo build --release --features cuda"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn an_unknown_device_is_a_usage_error() {
    for dev in ["tpu", "cuda:x"] {
        let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--device", dev]);
        assert_eq!(code(&o), 2, "--device {dev}");
        assert!(stderr(&o).contains(dev), "{}", stderr(&o));
    }
}

#[test]
fn a_model_the_runtime_cannot_run_yet_is_a_clear_error_or_runs() {
    // The runtime grows (loops, masks, feature inputs): until it can run a model this is
    // exit 2 with a message naming what is missing; afterwards the model runs.
    for (model, head) in [
        ("models/latent-loop.arch", "head lm: [2, 32, 256]"),
        ("models/perfect-vlm.arch", "head "),
        ("models/janus-pro-1b.arch", "head "),
    ] {
        let o = archc(&["run", &path(model), "--smoke"]);
        match code(&o) {
            0 => assert!(stdout(&o).contains(head), "{model}:\n{}", stdout(&o)),
            2 => {
                let err = stderr(&o);
                assert!(
                    err.contains("error: the runtime cannot run this model yet: "),
                    "{model}:\n{err}"
                );
            }
            c => panic!("{model}: exit {c}:\n{}", stderr(&o)),
        }
    }
}

#[test]
fn reference_weights_load_and_run() {
    let o = archc(&[
        "run",
        &path("tests/fixtures/gpt2_ref/gpt2-ref.arch"),
        "--weights",
        &path(WEIGHTS),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("head lm: [2, 32, 256]"), "{out}");
    assert!(out.contains("parameters: 118,528 (weights from "), "{out}");
}

#[test]
fn weights_of_another_shape_name_the_tensor_and_both_shapes() {
    let o = archc(&[
        "run",
        &path("models/gpt2-tiny.arch"),
        "--weights",
        &path(WEIGHTS),
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("`text.positions.weight`"), "{err}");
    assert!(
        err.contains("[32, 64]") && err.contains("[128, 64]"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn unreadable_weights_are_exit_2() {
    let o = archc(&[
        "run",
        &path("models/gpt2-tiny.arch"),
        "--weights",
        &path("models/gpt2-tiny.arch"),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("safetensors"), "{}", stderr(&o));
    let o = archc(&[
        "run",
        &path("models/gpt2-tiny.arch"),
        "--weights",
        &path("no/such/weights.safetensors"),
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn the_same_seed_gives_the_same_outputs() {
    let run = |seed: &str| {
        let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--seed", seed]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let h = heads(&o);
        assert_eq!(h.len(), 1, "{}", stdout(&o));
        assert!(h[0].contains(" sum "), "{}", h[0]);
        h
    };
    let a = run("42");
    assert_eq!(a, run("42"));
    assert_ne!(a, run("43"), "another seed, other parameters and ids");
}

#[test]
fn a_sequence_longer_than_the_stem_is_refused() {
    let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--seq", "129"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("max_len 128"), "{}", stderr(&o));
    let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--batch", "0"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn a_file_with_errors_is_exit_1() {
    let o = archc(&["run", &path("models/gpt2-tiny.arch"), "--set", "heads=5"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}
