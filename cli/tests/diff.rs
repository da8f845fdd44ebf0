//! `archc diff A B`: exit 0 when equal, 1 when different, 2 on error; a plain tree off a
//! terminal, JSON with `--format json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_archc");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn model(name: &str) -> PathBuf {
    root().join("models").join(name)
}

/// Runs archc with NO_COLOR set (stdout is a pipe anyway).
fn archc(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run archc")
}

fn diff(a: &Path, b: &Path, extra: &[&str]) -> Output {
    let mut args = vec![std::ffi::OsStr::new("diff"), a.as_os_str(), b.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    archc(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "archc-diff-cli-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn diff_of_a_file_with_itself_is_exit_0_and_silent() {
    let gpt2 = model("gpt2-small.arch");
    let o = diff(&gpt2, &gpt2, &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(stdout(&o), "");
}

#[test]
fn diff_of_janus_and_the_perfect_vlm_is_exit_1_with_a_plain_tree() {
    let o = diff(&model("janus-pro-1b.arch"), &model("perfect-vlm.arch"), &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = stdout(&o);
    for want in [
        "+ lm.blocks.0 (block llama)",
        "+ gen.blocks.0 (block llama)",
        "- trunk.blocks.22..23 (block llama x2)",
        "+ head siglip",
        "+ image: bidirectional()",
        "- allow(output_latent_sharing) on `gen`",
        "+ trunk_layers = 22",
        "total: params ",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains('\x1b'), "colour off a terminal:\n{out}");
}

#[test]
fn diff_json_is_the_diff() {
    let o = diff(
        &model("gpt2-small.arch"),
        &model("gpt2-tiny.arch"),
        &["--format", "json"],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    assert_eq!(v["equal"], false);
    assert!(v["items"].as_array().is_some_and(|i| !i.is_empty()));
    let same = diff(
        &model("gpt2-small.arch"),
        &model("gpt2-small.arch"),
        &["--format", "json"],
    );
    assert_eq!(same.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&same.stdout).expect("JSON on stdout");
    assert_eq!(v["equal"], true);
}

#[test]
fn diff_of_a_built_ir_and_its_source_is_exit_0() {
    let dir = TempDir::new("ir");
    let out = dir.0.join("gpt2");
    let b = archc(&[
        "build".as_ref(),
        model("gpt2-small.arch").as_os_str(),
        "--no-svg".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(b.status.code(), Some(0), "{b:?}");
    let ir = out.join("ir.yaml");
    let o = diff(&ir, &model("gpt2-small.arch"), &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = diff(&model("gpt2-small.arch"), &ir, &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

#[test]
fn diff_errors_are_exit_2() {
    let dir = TempDir::new("errors");
    let gpt2 = model("gpt2-small.arch");
    // A missing file.
    let o = diff(&dir.0.join("missing.arch"), &gpt2, &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    // An IR that is not one.
    let bad_ir = dir.0.join("bad.yaml");
    std::fs::write(&bad_ir, "schema: 1\nmodel: [").expect("write");
    let o = diff(&gpt2, &bad_ir, &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    // A .arch file with errors: its diagnostics, then exit 2.
    let broken = dir.0.join("broken.arch");
    std::fs::write(
        &broken,
        "model broken\n\nstem text: tokens(vocab = 10, max_len = 8) {\n  embed: embedding(dim = nope)\n}\n",
    )
    .expect("write");
    let o = diff(&broken, &gpt2, &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nope"), "diagnostics on stderr:\n{err}");
    assert_eq!(stdout(&o), "");
}
