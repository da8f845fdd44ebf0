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

#[test]
fn compare_trains_each_model_on_the_same_budget_and_tabulates_the_heads() {
    let out = std::env::temp_dir().join(format!("archc-compare-{}", std::process::id()));
    let o = archc(&[
        "compare",
        "models/coconut-gpt2.arch",
        "models/latent-loop.arch",
        "--smoke",
        "--steps",
        "12",
        "--batch",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(stdout.contains(&table), "the table is printed: {stdout}");
    assert!(
        table.contains("| train `lm` | eval `lm` |"),
        "training and evaluation losses per head: {table}"
    );
    let rows: Vec<Vec<String>> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    // Columns: "", model, parameters, steps, tokens, tokens/s, then the training and the
    // evaluation loss per head.
    assert_eq!(rows[0][4], rows[1][4], "the same token budget: {table}");
    for r in &rows {
        let losses: Vec<f64> = r[6..].iter().filter_map(|c| c.parse().ok()).collect();
        assert!(
            !losses.is_empty() && losses.iter().all(|l| l.is_finite() && *l > 0.0),
            "{r:?}"
        );
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("model,step,tokens,head,loss"));
    assert!(csv.lines().count() > 24, "{csv}");
    let svg = std::fs::read_to_string(out.join("compare.svg")).unwrap();
    assert!(
        svg.contains("tokens seen") && svg.matches("<path").count() > 2,
        "{svg}"
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
