//! `archc compare`: several models trained on the same data, seed and token budget; a
//! table of final per-head losses and tokens/s, the curves in one picture, and clear
//! refusals.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn archc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Two models with different layouts (so different tokens per step): the same token
/// budget within one step, a training and an evaluation loss for every head each model
/// has and "—" for the others, one curve per (model, head).
#[test]
fn compare_trains_each_model_on_the_same_budget_and_tabulates_the_heads() {
    let out = std::env::temp_dir().join(format!("archc-compare-{}", std::process::id()));
    let o = archc(&[
        "compare",
        "models/gpt2-tiny.arch",
        "models/perfect-vlm-tiny.arch",
        "--smoke",
        "--steps",
        "12",
        "--batch",
        "2",
        "--eval-batches",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(stdout.contains(&table), "the table is printed: {stdout}");
    assert!(
        table.starts_with("`archc compare models/gpt2-tiny.arch"),
        "{table}"
    );
    let lines: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
    let cells = |l: &str| -> Vec<String> { l.split('|').map(|c| c.trim().to_string()).collect() };
    let header = cells(lines[0]);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {table}"))
    };
    let rows: Vec<Vec<String>> = lines[2..].iter().map(|l| cells(l)).collect();
    assert_eq!(rows.len(), 2, "{table}");
    let num = |r: &Vec<String>, c: &str| -> f64 {
        r[col(c)].replace(',', "").parse().unwrap_or(f64::NAN)
    };
    // gpt2-tiny: 42 tokens a sequence; the VLM 16 + 16 + 42: it takes fewer steps for
    // (nearly) the same tokens, never fewer tokens.
    let (t0, t1) = (num(&rows[0], "tokens"), num(&rows[1], "tokens"));
    let (s0, s1) = (num(&rows[0], "steps"), num(&rows[1], "steps"));
    assert!(s1 < s0 && t1 >= t0 && t1 - t0 < t1 / s1, "budget: {table}");
    for h in ["lm"] {
        for r in &rows {
            for kind in ["train", "eval"] {
                let v = num(r, &format!("{kind} `{h}`"));
                assert!(v.is_finite() && v > 0.0, "{kind} {h}: {table}");
            }
        }
    }
    for h in ["gen", "siglip"] {
        assert_eq!(rows[0][col(&format!("eval `{h}`"))], "—", "{table}");
        let v = num(&rows[1], &format!("eval `{h}`"));
        assert!(v.is_finite() && v > 0.0, "eval {h}: {table}");
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("model,step,tokens,head,loss"));
    assert_eq!(csv.lines().count() as f64, 1.0 + s0 + 3.0 * s1, "{csv}");
    let svg = std::fs::read_to_string(out.join("compare.svg")).unwrap();
    assert!(svg.contains("tokens seen"), "{svg}");
    assert_eq!(
        svg.matches(r#"stroke-width="1.5""#).count(),
        4,
        "one curve per model and head"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn compare_refuses_one_model_a_missing_file_and_a_zero_budget() {
    let one = archc(&["compare", "models/gpt2-tiny.arch"]);
    assert_eq!(one.status.code(), Some(2));
    let missing = archc(&[
        "compare",
        "models/gpt2-tiny.arch",
        "models/nope.arch",
        "--smoke",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.arch"));
    let zero = archc(&[
        "compare",
        "models/gpt2-tiny.arch",
        "models/latent-loop.arch",
        "--steps",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("at least 1"));
}
