//! Every model in models/, end to end through the CLI: `archc check` clean (the baselines
//! through their explicit allow, warned), `archc build` (IR, DOT, SVG and costs),
//! `archc run --smoke --backward`, and 50 training steps on the built-in data at the
//! smoke scale with every head's loss falling (mean of the last 10 steps below the mean
//! of the first 10). Published parameter counts are tested in tests/suite/counts.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn archc(args: &[&str]) -> Result<String, String> {
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .output()
        .unwrap();
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(format!(
            "archc {}: exit {:?}: {}",
            args.join(" "),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// Per column `loss.<head>` of a metrics.csv: the losses, step by step.
fn head_losses(run: &Path) -> Vec<(String, Vec<f64>)> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let head = h.strip_prefix("loss.")?;
            let v = rows.iter().filter_map(|r| r.get(i)?.parse().ok()).collect();
            Some((head.to_string(), v))
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn end_to_end(file: &Path, out: &Path) -> Result<String, String> {
    let f = file.to_str().unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["check", f])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    if !check.status.success() {
        return Err(format!("archc check: {stderr}"));
    }
    // Clean, or only the A0702 warning that names a baseline's explicit allow.
    let codes: Vec<&str> = stderr
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.trim_matches(['[', ']', ':']).starts_with("A0"))
        })
        .collect();
    if codes.iter().any(|c| !c.contains("A0702")) {
        return Err(format!("archc check reports more than an allow: {stderr}"));
    }
    let build = out.join("build");
    archc(&["build", f, "-o", build.to_str().unwrap()])?;
    for file in ["ir.yaml", "graph.svg"] {
        if !build.join(file).is_file() {
            return Err(format!("archc build wrote no {file}"));
        }
    }
    archc(&["run", f, "--smoke", "--backward"])?;
    let run = out.join("train");
    archc(&[
        "train",
        f,
        "--smoke",
        "--steps",
        "50",
        "--batch",
        "4",
        "--seed",
        "1",
        "-o",
        run.to_str().unwrap(),
    ])?;
    let mut report = Vec::new();
    for (head, v) in head_losses(&run) {
        if v.len() != 50 || v.iter().any(|x| !x.is_finite()) {
            return Err(format!("head `{head}`: {} finite losses of 50", v.len()));
        }
        let (first, last) = (mean(&v[..10]), mean(&v[40..]));
        if last >= first {
            return Err(format!(
                "head `{head}`: loss did not fall: first 10 {first:.4}, last 10 {last:.4}"
            ));
        }
        report.push(format!("{head} {first:.3} -> {last:.3}"));
    }
    if report.is_empty() {
        return Err("no head was trained".into());
    }
    Ok(report.join(", "))
}

#[test]
fn every_model_checks_builds_runs_and_learns_at_smoke_scale() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "models/ holds {} files", files.len());
    let tmp = std::env::temp_dir().join(format!("archc-models-{}", std::process::id()));
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let out = tmp.join(&name);
        let _ = std::fs::remove_dir_all(&out);
        match end_to_end(f, &out) {
            Ok(r) => eprintln!("{name}: {r}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// docs/models.md and its pictures are what `docs/gallery.py` makes of models/ now:
/// every number in the gallery comes from `archc build` and `archc diff`.
#[test]
fn the_gallery_is_up_to_date() {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = Command::new(py)
        .args([
            "docs/gallery.py",
            "--check",
            "--archc",
            env!("CARGO_BIN_EXE_archc"),
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
