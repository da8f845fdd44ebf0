//! `archc build`: what it writes, the IR round trip, and every bad input getting exit 2
//! with nothing half-written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archc-build-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
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

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn model(name: &str) -> String {
    root().join("models").join(name).display().to_string()
}

#[test]
fn build_writes_ir_dot_and_svg_and_a_summary() {
    let d = tmp("writes");
    let out = d.join("gpt2");
    let o = archc(&[
        "build",
        &model("gpt2-tiny.arch"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(entries(&out), vec!["graph.dot", "graph.svg", "ir.yaml"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("124,672 parameters"), "{stdout}");
    assert!(stdout.contains("KV cache"), "{stdout}");
    // Nothing else beside it: no temporary directories left.
    assert_eq!(entries(&d), vec!["gpt2"]);
    // Building again replaces it cleanly.
    assert_eq!(
        code(&archc(&[
            "build",
            &model("gpt2-tiny.arch"),
            "-o",
            out.to_str().unwrap(),
            "--no-svg"
        ])),
        0
    );
    assert_eq!(entries(&out), vec!["graph.dot", "ir.yaml"]);
    assert_eq!(entries(&d), vec!["gpt2"]);
}

#[test]
fn ir_builds_back_byte_for_byte() {
    let d = tmp("roundtrip");
    for m in [
        "gpt2-small.arch",
        "huginn-3.5b.arch",
        "perfect-vlm.arch",
        "janus-pro-1b.arch",
    ] {
        let a = d.join(format!("a-{m}"));
        let b = d.join(format!("b-{m}"));
        let first = archc(&[
            "build",
            &model(m),
            "-o",
            a.to_str().unwrap(),
            "--no-svg",
            "--format",
            "json",
        ]);
        assert_eq!(code(&first), 0);
        let ir = a.join("ir.yaml");
        let second = archc(&[
            "build",
            ir.to_str().unwrap(),
            "-o",
            b.to_str().unwrap(),
            "--no-svg",
            "--format",
            "json",
        ]);
        assert_eq!(
            code(&second),
            0,
            "{}",
            String::from_utf8_lossy(&second.stderr)
        );
        assert_eq!(
            std::fs::read(&ir).unwrap(),
            std::fs::read(b.join("ir.yaml")).unwrap(),
            "{m}: IR differs after a round trip"
        );
        assert_eq!(
            first.stdout, second.stdout,
            "{m}: the summary differs when built from the IR"
        );
    }
}

#[test]
fn bad_inputs_are_refused_and_write_nothing() {
    let d = tmp("bad");
    let out = d.join("out");
    let o = out.to_str().unwrap();
    // A missing file, a directory.
    assert_eq!(
        code(&archc(&[
            "build",
            d.join("nope.arch").to_str().unwrap(),
            "-o",
            o
        ])),
        2
    );
    assert_eq!(code(&archc(&["build", d.to_str().unwrap(), "-o", o])), 2);
    // An IR of another schema version, a truncated one, one that is not YAML: the file's
    // content is wrong, so like a bad .arch file each is a coded diagnostic, exit 1.
    let good = d.join("good");
    assert_eq!(
        code(&archc(&[
            "build",
            &model("gpt2-tiny.arch"),
            "-o",
            good.to_str().unwrap(),
            "--no-svg"
        ])),
        0
    );
    let ir = std::fs::read_to_string(good.join("ir.yaml")).unwrap();
    let other = d.join("other.yaml");
    std::fs::write(&other, ir.replacen("schema: 1", "schema: 2", 1)).unwrap();
    let e = archc(&["build", other.to_str().unwrap(), "-o", o]);
    assert_eq!(code(&e), 1);
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("A0007")
            && String::from_utf8_lossy(&e.stderr).contains("schema 2"),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
    let truncated = d.join("truncated.yaml");
    std::fs::write(&truncated, &ir[..ir.len() / 2]).unwrap();
    let e = archc(&["build", truncated.to_str().unwrap(), "-o", o]);
    assert_eq!(code(&e), 1);
    assert!(String::from_utf8_lossy(&e.stderr).contains("A000"));
    let garbage = d.join("garbage.yaml");
    std::fs::write(&garbage, "{{{ not yaml").unwrap();
    let e = archc(&["build", garbage.to_str().unwrap(), "-o", o]);
    assert_eq!(code(&e), 1);
    assert!(String::from_utf8_lossy(&e.stderr).contains("A0006"));
    // An IR with overrides (they apply to .arch files only).
    assert_eq!(
        code(&archc(&[
            "build",
            good.join("ir.yaml").to_str().unwrap(),
            "-o",
            o,
            "--set",
            "d=32"
        ])),
        2
    );
    // An unwritable -o: below a regular file.
    let file = d.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let below = file.join("sub");
    assert_eq!(
        code(&archc(&[
            "build",
            &model("gpt2-tiny.arch"),
            "-o",
            below.to_str().unwrap()
        ])),
        2
    );
    // Nothing was written for any of them.
    assert!(!out.exists());
    assert_eq!(
        entries(&d),
        vec![
            "garbage.yaml",
            "good",
            "other.yaml",
            "plain-file",
            "truncated.yaml"
        ]
    );
}

#[test]
fn a_file_with_errors_exits_1_and_writes_nothing() {
    let d = tmp("errors");
    let f = d.join("bad.arch");
    std::fs::write(&f, "param d = 1 / 0\n").unwrap();
    let out = d.join("out");
    let o = archc(&["build", f.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("A0202"));
    assert!(!out.exists());
}

#[test]
fn summary_formats_parse() {
    let d = tmp("formats");
    let o = archc(&[
        "build",
        &model("gpt2-small.arch"),
        "-o",
        d.join("j").to_str().unwrap(),
        "--no-svg",
        "--format",
        "json",
        "--batch",
        "2",
        "--seq",
        "512",
    ]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    assert_eq!(v["params"], 124_439_808u64);
    assert_eq!(v["workload"]["seq"], 512);
    let o = archc(&[
        "build",
        &model("gpt2-small.arch"),
        "-o",
        d.join("y").to_str().unwrap(),
        "--no-svg",
        "--format",
        "yaml",
    ]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("params: 124439808"));
    assert_eq!(
        code(&archc(&[
            "build",
            &model("gpt2-small.arch"),
            "-o",
            d.join("z").to_str().unwrap(),
            "--seq",
            "0"
        ])),
        2
    );
}

#[test]
fn a_graph_too_big_to_draw_gets_its_dot_and_a_warning() {
    // 1,000 blocks that differ (hidden sizes), so nothing folds: over the 800-box limit.
    let d = tmp("too-big");
    let mut src = String::from("param d = 64\n");
    for i in 0..1000 {
        src += &format!("block b{i}(width = d) {{\n  width: width\n  norm: rmsnorm\n  attention: attention(heads = 4)\n  mlp: gelu(hidden = {})\n}}\n", 128 + i);
    }
    let names: Vec<String> = (0..1000).map(|i| format!("b{i}")).collect();
    src += &format!("stem t: tokens(vocab = 16, max_len = 8) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  blocks: [{}]\n}}\nhead lm: text {{\n  objective: next_token\n}}\n", names.join(", "));
    let f = d.join("big.arch");
    std::fs::write(&f, src).unwrap();
    let out = d.join("out");
    let o = archc(&["build", f.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not drawing graph.svg"));
    assert_eq!(entries(&out), vec!["graph.dot", "ir.yaml"]);
}
