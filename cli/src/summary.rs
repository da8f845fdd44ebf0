//! The cost summary as a table: a tree of items and their layers, then the totals.
//! Consecutive identical blocks (same definition, parameters and FLOPs) share one line.

use archc::analyze::{NodeCost, Summary};
use std::fmt::Write;
use std::path::Path;

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` in the largest of `units` (each `base` times the last) that keeps it >= 1.
fn scaled(n: u128, base: f64, units: &[&str]) -> String {
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{n} {}", units[0])
    } else {
        format!("{v:.2} {}", units[i])
    }
}

/// Bytes with a binary unit: `2.00 GiB`.
pub fn bytes(n: u128) -> String {
    scaled(n, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"])
}

/// FLOPs with an SI unit: `1.49 GFLOP`.
pub fn flops(n: u128) -> String {
    scaled(
        n,
        1000.0,
        &["FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"],
    )
}

/// Lines for one item's nodes, runs of identical blocks folded into `a..b ×n`.
fn node_lines(nodes: &[NodeCost]) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let n = &nodes[i];
        let mut j = i + 1;
        if n.def.is_some() {
            while j < nodes.len()
                && nodes[j].def == n.def
                && nodes[j].params == n.params
                && nodes[j].flops_forward == n.flops_forward
            {
                j += 1;
            }
        }
        let count = j - i;
        let (path, what) = if count > 1 {
            let last = nodes[j - 1].path.rsplit('.').next().unwrap_or("");
            (
                format!("{}..{last}", n.path),
                format!("{} x{count}", n.def.as_deref().unwrap_or(&n.kind)),
            )
        } else {
            (
                n.path.clone(),
                n.def
                    .as_ref()
                    .map_or(n.kind.clone(), |d| format!("block {d}")),
            )
        };
        let mut params = thousands(n.params);
        if count > 1 {
            params.push_str(" each");
        }
        if n.frozen {
            params.push_str(" (frozen)");
        }
        let runs = if n.runs > 1 {
            format!("  (runs x{})", n.runs)
        } else {
            String::new()
        };
        out.push((path, what, params, runs));
        i = j;
    }
    out
}

pub fn table(s: &Summary, out_dir: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}: {} parameters ({} trainable, {} frozen; tied weights counted once)",
        s.model,
        thousands(s.params),
        thousands(s.trainable),
        thousands(s.frozen)
    );
    let _ = writeln!(
        t,
        "written to {}/ (ir.yaml, graph.dot{})",
        out_dir.display(),
        if out_dir.join("graph.svg").exists() {
            ", graph.svg"
        } else {
            ""
        }
    );
    let _ = writeln!(t);
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    for item in &s.items {
        if item.params == 0 && item.nodes.iter().all(|n| n.params == 0) && item.item == "let" {
            continue;
        }
        rows.push((
            format!("{} {}", item.item, item.name),
            String::new(),
            thousands(item.params),
            String::new(),
        ));
        for (path, what, params, runs) in node_lines(&item.nodes) {
            rows.push((format!("  {path}"), what, params, runs));
        }
    }
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
    for (a, b, c, d) in rows {
        let _ = writeln!(t, "{a:<w0$}  {b:<w1$}  {c:>w2$}{d}");
    }
    let _ = writeln!(t);
    let w = s.workload;
    let _ = writeln!(
        t,
        "parameter memory   {} at f32, {} at bf16",
        bytes(s.param_bytes_f32),
        bytes(s.param_bytes_bf16)
    );
    for m in &s.modalities {
        let _ = writeln!(
            t,
            "per `{}` token     {} forward, {} training (seq {}), effective depth {} blocks",
            m.modality,
            flops(m.flops_forward_per_token),
            flops(m.flops_train_per_token),
            w.seq,
            m.effective_depth
        );
    }
    let _ = writeln!(
        t,
        "activations        {} for training at batch {} x seq {} (bf16)",
        bytes(s.activation_bytes),
        w.batch,
        w.seq
    );
    let _ = write!(
        t,
        "KV cache           {} at batch {} x seq {} (bf16)",
        bytes(s.kv_cache_bytes),
        w.batch,
        w.seq
    );
    t
}
