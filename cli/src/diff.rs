//! `archc diff A B`: the semantic difference of two models (`.arch` files or IR), as a
//! tree — coloured on a terminal unless NO_COLOR is set — or as JSON. Exit 0 when equal,
//! 1 when different, 2 on error, like diff(1).

use crate::build::load_graph;
use crate::summary::{flops, thousands};
use crate::Instantiate;
use archc::analyze::Workload;
use archc::diff::{graphs_to_diff, Delta, Diff, NodeDiff, Status};
use serde_json::Value as Json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The old model: a `.arch` file or an IR written by `archc build` (`.yaml`).
    old: PathBuf,
    /// The new model, likewise.
    new: PathBuf,
    /// Applied to both files (`.arch` only).
    #[command(flatten)]
    inst: Instantiate,
    #[arg(long, value_enum, default_value = "text")]
    format: DiffFormat,
    /// Sequence length for FLOPs (default: the longest a tokens stem of either declares).
    #[arg(long)]
    seq: Option<u64>,
}

pub fn diff(args: &DiffArgs) -> ExitCode {
    // A file that does not load (IO, bad IR, a .arch with errors) is exit 2 here: 1 means
    // "different".
    let load = |p: &PathBuf| load_graph(p, &args.inst).map_err(|_| ExitCode::from(2));
    let (a, b) = match (load(&args.old), load(&args.new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    if args.seq == Some(0) {
        eprintln!("error: --seq must be at least 1");
        return ExitCode::from(2);
    }
    // The longest sequence a tokens stem of either declares (2048 if none does).
    let declared = |g: &archc::graph::ArchGraph| {
        let w = Workload::default_for(g);
        let has_tokens = g.graph.node_weights().any(|n| {
            matches!(
                &n.kind,
                archc::graph::NodeKind::Input {
                    stem: archc::model::StemKind::Tokens { .. },
                    ..
                }
            )
        });
        has_tokens.then_some(w.seq)
    };
    let seq = args
        .seq
        .or_else(|| declared(&a).max(declared(&b)))
        .unwrap_or_else(|| Workload::default_for(&a).seq);
    let d = graphs_to_diff(&a, &b, Workload { batch: 1, seq });
    let out = match args.format {
        DiffFormat::Json => serde_json::to_string_pretty(&d).unwrap_or_default() + "\n",
        DiffFormat::Text if !d.equal => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            text(&d, &args.old, &args.new, color)
        }
        DiffFormat::Text => String::new(),
    };
    // A closed pipe (`archc diff a b | head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    ExitCode::from(if d.equal { 0 } else { 1 })
}

/// One line of the tree and the lines under it.
struct T {
    status: Status,
    label: String,
    cost: String,
    children: Vec<T>,
}

fn t(status: Status, label: impl Into<String>, cost: String, children: Vec<T>) -> T {
    T {
        status,
        label: label.into(),
        cost,
        children,
    }
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Added => "+ ",
        Status::Removed => "- ",
        Status::Changed => "~ ",
        Status::Same => "",
    }
}

/// The tree as text: the `--- A` / `+++ B` header, then a line per difference.
pub fn text(d: &Diff, old: &Path, new: &Path, color: bool) -> String {
    let mut top = Vec::new();
    if !d.params.is_empty() {
        let lines = d
            .params
            .iter()
            .map(|p| {
                let v =
                    |x: Option<archc::eval::Value>| x.map_or("(none)".into(), |v| v.to_string());
                let (s, label) = match (p.old, p.new) {
                    (None, _) => (Status::Added, format!("{} = {}", p.name, v(p.new))),
                    (_, None) => (Status::Removed, format!("{} = {}", p.name, v(p.old))),
                    _ => (
                        Status::Changed,
                        format!("{}: {} -> {}", p.name, v(p.old), v(p.new)),
                    ),
                };
                t(s, label, String::new(), vec![])
            })
            .collect();
        top.push(t(Status::Same, "params", String::new(), lines));
    }
    for item in &d.items {
        if item.status == Status::Same && item.params.delta == 0 && item.flops_forward.delta == 0 {
            continue;
        }
        let mut label = if item.item == item.name {
            item.item.clone()
        } else {
            format!("{} {}", item.item, item.name)
        };
        if let Some(was) = &item.was {
            label.push_str(&format!(" (was a {was})"));
        }
        if item.status == Status::Same {
            label.push_str(" (unchanged; its cost changed)");
        }
        let children = fold(&item.nodes)
            .into_iter()
            .map(|(n, count)| node_line(n, count))
            .collect();
        top.push(t(
            item.status,
            label,
            costs(&item.params, &item.flops_forward),
            children,
        ));
    }
    if !d.masks.is_empty() {
        let lines = d
            .masks
            .iter()
            .map(|m| {
                let r = |x: &Option<archc::model::Region>| {
                    x.as_ref()
                        .and_then(|r| serde_json::to_value(r).ok())
                        .map_or("(none)".into(), |v| value(&v))
                };
                let label = match m.status {
                    Status::Added => format!("{}: {}", m.modality, r(&m.new)),
                    Status::Removed => format!("{}: {}", m.modality, r(&m.old)),
                    _ => format!("{}: {} -> {}", m.modality, r(&m.old), r(&m.new)),
                };
                t(m.status, label, String::new(), vec![])
            })
            .collect();
        top.push(t(Status::Same, "masks", String::new(), lines));
    }
    if !d.lints.is_empty() {
        let lines = d
            .lints
            .iter()
            .map(|l| {
                let on = l
                    .item
                    .as_ref()
                    .map_or(" (whole file)".into(), |i| format!(" on `{i}`"));
                let label = match (&l.old_level, &l.new_level) {
                    (Some(o), Some(n)) => format!("{}: {o} -> {n}{on}", l.lint),
                    (Some(lv), None) | (None, Some(lv)) => format!("{lv}({}){on}", l.lint),
                    (None, None) => l.lint.clone(),
                };
                t(l.status, label, String::new(), vec![])
            })
            .collect();
        top.push(t(Status::Same, "lints", String::new(), lines));
    }
    let total = |x: &Delta, f: fn(u128) -> String| match x.delta {
        0 => format!("{} (unchanged)", f(x.old)),
        d => format!("{} -> {} ({})", f(x.old), f(x.new), signed(d, f)),
    };
    top.push(t(
        Status::Same,
        format!(
            "total: params {}, FLOPs per token {}",
            total(&d.total_params, thousands),
            total(&d.total_flops_forward, flops),
        ),
        String::new(),
        vec![],
    ));

    let mut rows: Vec<(String, Status, String, String)> = Vec::new();
    let n = top.len();
    for (i, node) in top.into_iter().enumerate() {
        flatten(node, "", i + 1 == n, &mut rows);
    }
    let width = rows
        .iter()
        .filter(|r| !r.3.is_empty())
        .map(|(p, s, l, _)| p.chars().count() + mark(*s).len() + l.chars().count())
        .max()
        .unwrap_or(0);
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    let model = |m: &str, p: &Path| format!("{} ({m})", p.display());
    out.push_str(&paint("1;31", &format!("--- {}", model(&d.old_model, old))));
    out.push('\n');
    out.push_str(&paint("1;32", &format!("+++ {}", model(&d.new_model, new))));
    out.push_str(&format!("   (FLOPs per token at seq {})\n", d.seq));
    for (prefix, s, label, cost) in rows {
        let body = format!("{}{label}", mark(s));
        let pad = width.saturating_sub(prefix.chars().count() + body.chars().count());
        let code = match s {
            Status::Added => "32",
            Status::Removed => "31",
            Status::Changed => "33",
            Status::Same => "1",
        };
        let line = if cost.is_empty() {
            format!("{prefix}{}", paint(code, &body))
        } else {
            format!("{prefix}{}{}  {cost}", paint(code, &body), " ".repeat(pad))
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn flatten(node: T, prefix: &str, last: bool, rows: &mut Vec<(String, Status, String, String)>) {
    let glyph = if last { "└─ " } else { "├─ " };
    rows.push((
        format!("{prefix}{glyph}"),
        node.status,
        node.label,
        node.cost,
    ));
    let inner = format!("{prefix}{}", if last { "   " } else { "│  " });
    let n = node.children.len();
    for (i, c) in node.children.into_iter().enumerate() {
        flatten(c, &inner, i + 1 == n, rows);
    }
}

/// Runs of alike nodes (same status, kind, changes and costs, consecutive numbered
/// paths such as `trunk.blocks.22`, `trunk.blocks.23`) as one line with a count.
fn fold(nodes: &[NodeDiff]) -> Vec<(&NodeDiff, Vec<&NodeDiff>)> {
    let mut out: Vec<(&NodeDiff, Vec<&NodeDiff>)> = Vec::new();
    for n in nodes {
        if let Some((first, run)) = out.last_mut() {
            let prev = run.last().copied().unwrap_or(*first);
            if alike(prev, n) && next_index(&prev.path, &n.path) {
                run.push(n);
                continue;
            }
        }
        out.push((n, Vec::new()));
    }
    out
}

fn alike(a: &NodeDiff, b: &NodeDiff) -> bool {
    a.status == b.status
        && a.what == b.what
        && a.changes == b.changes
        && a.params.delta == b.params.delta
        && a.flops_forward.delta == b.flops_forward.delta
}

/// `x.blocks.3` then `x.blocks.4`.
fn next_index(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        s.rsplit_once('.')
            .and_then(|(p, i)| Some((p.to_string(), i.parse::<u64>().ok()?)))
    };
    matches!((split(a), split(b)), (Some((pa, ia)), Some((pb, ib))) if pa == pb && ib == ia + 1)
}

fn node_line(n: &NodeDiff, run: Vec<&NodeDiff>) -> T {
    let (label, each) = match run.last() {
        Some(last) => {
            let end = last.path.rsplit('.').next().unwrap_or("");
            (
                format!("{}..{end} ({} x{})", n.path, n.what, run.len() + 1),
                "each: ",
            )
        }
        None => (format!("{} ({})", n.path, n.what), ""),
    };
    let changes = n
        .changes
        .iter()
        .map(|c| {
            let v = |x: &Option<Json>| x.as_ref().map_or("(none)".into(), value);
            t(
                Status::Same,
                format!("{}: {} -> {}", c.field, v(&c.old), v(&c.new)),
                String::new(),
                vec![],
            )
        })
        .collect();
    let mut cost = costs(&n.params, &n.flops_forward);
    if !cost.is_empty() {
        cost.insert_str(0, each);
    }
    t(n.status, label, cost, changes)
}

/// `params +7,087,872  FLOPs +14.18 MFLOP`, leaving out what did not change.
fn costs(p: &Delta, f: &Delta) -> String {
    let mut parts = Vec::new();
    if p.delta != 0 {
        parts.push(format!("params {}", signed(p.delta, thousands)));
    }
    if f.delta != 0 {
        parts.push(format!("FLOPs {}", signed(f.delta, flops)));
    }
    parts.join("  ")
}

/// `+7,087,872`, `-14.18 MFLOP`, `0`.
fn signed(d: i128, f: fn(u128) -> String) -> String {
    let sign = match d.signum() {
        -1 => "-",
        1 => "+",
        _ => "",
    };
    format!("{sign}{}", f(d.unsigned_abs()))
}

/// A value in `.arch` style: `rope(theta = 10000.0)`, `[a, b]`, `12`, `gelu`.
fn value(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "(none)".into(),
        Json::Array(xs) => format!("[{}]", xs.iter().map(value).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => {
            let tag = m.get("kind").or_else(|| m.get("op")).and_then(Json::as_str);
            let fields: Vec<String> = m
                .iter()
                .filter(|(k, _)| tag.is_none() || !matches!(k.as_str(), "kind" | "op"))
                .map(|(k, x)| format!("{k} = {}", value(x)))
                .collect();
            match tag {
                Some(tag) => format!("{tag}({})", fields.join(", ")),
                None => format!("{{{}}}", fields.join(", ")),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archc::diff::{Change, ItemDiff};

    fn sample() -> Diff {
        let node = |path: &str, status, changes| NodeDiff {
            path: path.into(),
            status,
            what: "block gpt2".into(),
            changes,
            params: Delta::new(0, 10),
            flops_forward: Delta::new(0, 20),
        };
        Diff {
            old_model: "a".into(),
            new_model: "b".into(),
            seq: 8,
            equal: false,
            params: vec![],
            items: vec![ItemDiff {
                item: "trunk".into(),
                name: "trunk".into(),
                status: Status::Changed,
                was: None,
                nodes: vec![
                    node(
                        "trunk.blocks.0",
                        Status::Changed,
                        vec![Change {
                            field: "attention.heads".into(),
                            old: Some(12.into()),
                            new: Some(16.into()),
                        }],
                    ),
                    node("trunk.blocks.1", Status::Added, vec![]),
                    node("trunk.blocks.2", Status::Added, vec![]),
                ],
                params: Delta::new(0, 30),
                flops_forward: Delta::new(0, 60),
            }],
            loops: vec![],
            masks: vec![],
            lints: vec![],
            total_params: Delta::new(5, 35),
            total_flops_forward: Delta::new(0, 60),
        }
    }

    #[test]
    fn plain_tree_folds_runs_and_lists_leaves() {
        let out = text(&sample(), Path::new("a.arch"), Path::new("b.arch"), false);
        assert!(!out.contains('\x1b'));
        assert!(out.contains("~ trunk.blocks.0 (block gpt2)"), "{out}");
        assert!(out.contains("attention.heads: 12 -> 16"), "{out}");
        assert!(out.contains("+ trunk.blocks.1..2 (block gpt2 x2)"), "{out}");
        assert!(out.contains("each: params +10  FLOPs +20 FLOP"), "{out}");
        assert!(out.contains("total: params 5 -> 35 (+30)"), "{out}");
    }

    #[test]
    fn colour_marks_added_green_removed_red_changed_yellow() {
        let out = text(&sample(), Path::new("a.arch"), Path::new("b.arch"), true);
        assert!(out.contains("\x1b[33m~ trunk"), "{out:?}");
        assert!(out.contains("\x1b[32m+ trunk.blocks.1"), "{out:?}");
        assert!(out.contains("\x1b[1;31m--- a.arch"), "{out:?}");
    }
}
