//! `graphs_to_diff`: what changed between two checked graphs, following the hierarchy.
//! Items (stems, trunk, heads, layers, loops, lets) are matched by name and their nodes
//! by path. A node's changes are the leaves of its serialised kind that differ
//! (`attention.heads: 12 -> 16`); an object whose tag (`kind`/`op`) changed is one leaf
//! (`positions: rope(theta = 10000.0) -> none`). A node is rewired when its nearest
//! upstream nodes present in both graphs differ, so inserting a block reports one added
//! node, not also a rewired successor. Costs come from `analyze::graph_to_summary`.

use crate::analyze::{graph_to_summary, Summary, Workload};
use crate::eval::Value;
use crate::graph::{ArchGraph, EdgeKind, Node, NodeKind};
use crate::model::Region;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Same,
    Added,
    Removed,
    Changed,
}

/// One leaf that differs. `None` is absent on that side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Dotted path in the node's kind (`attention.heads`), or `inputs` for the wiring.
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Json>,
}

/// A cost in A, in B, and B minus A.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub old: u128,
    pub new: u128,
    pub delta: i128,
}

impl Delta {
    pub fn new(old: u128, new: u128) -> Delta {
        Delta {
            old,
            new,
            delta: new as i128 - old as i128,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeDiff {
    pub path: String,
    /// `Added`, `Removed` or `Changed` (unchanged nodes are not listed).
    pub status: Status,
    /// What the node is (in B; in A when removed): `block llama`, `norm`, `projection`.
    pub what: String,
    pub changes: Vec<Change>,
    pub params: Delta,
    /// Forward FLOPs per token, loops unrolled.
    pub flops_forward: Delta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemDiff {
    /// `stem`, `trunk`, `head`, `layer`, `loop` or `let` (in B; in A when removed).
    pub item: String,
    pub name: String,
    pub status: Status,
    /// The item's kind in A, when the same name is another kind of item in B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    /// The nodes that differ, in file order (removed ones where they stood).
    pub nodes: Vec<NodeDiff>,
    pub params: Delta,
    pub flops_forward: Delta,
}

/// A `param` added, removed or given another value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamChange {
    pub name: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// A loop in both graphs whose source (the value it carries) or target moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopMove {
    pub name: String,
    pub old_source: Option<String>,
    pub new_source: Option<String>,
    pub old_target: Option<String>,
    pub new_target: Option<String>,
}

/// A mask region of one modality, matched by region kind (`bidirectional`, `prefix`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskChange {
    pub modality: String,
    pub status: Status,
    pub old: Option<Region>,
    pub new: Option<Region>,
}

/// A lint attribute (`allow(output_latent_sharing)`), matched by lint and item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LintChange {
    pub lint: String,
    /// The item it sits on; absent for the whole file.
    pub item: Option<String>,
    pub status: Status,
    pub old_level: Option<String>,
    pub new_level: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub old_model: String,
    pub new_model: String,
    /// The sequence length FLOPs are counted at (the same for both).
    pub seq: u64,
    /// Nothing differs: model name, params, items, loops, masks and lints are the same.
    pub equal: bool,
    pub params: Vec<ParamChange>,
    /// Every item of either graph, `Same` ones included, in file order.
    pub items: Vec<ItemDiff>,
    pub loops: Vec<LoopMove>,
    pub masks: Vec<MaskChange>,
    pub lints: Vec<LintChange>,
    /// Total parameters (tied weights counted once).
    pub total_params: Delta,
    /// Total forward FLOPs per token over all items.
    pub total_flops_forward: Delta,
}

/// One graph with what the diff looks up in it.
struct Side<'g> {
    g: &'g ArchGraph,
    by_path: HashMap<&'g str, NodeIndex>,
    summary: Summary,
    /// Path -> (params, forward FLOPs).
    cost: HashMap<String, (u128, u128)>,
}

impl<'g> Side<'g> {
    fn new(g: &'g ArchGraph, w: Workload) -> Side<'g> {
        let summary = graph_to_summary(g, w);
        let cost = summary
            .items
            .iter()
            .flat_map(|i| &i.nodes)
            .map(|n| (n.path.clone(), (n.params, n.flops_forward)))
            .collect();
        let by_path = g
            .graph
            .node_indices()
            .map(|n| (g.graph[n].path.as_str(), n))
            .collect();
        Side {
            g,
            by_path,
            summary,
            cost,
        }
    }

    fn node(&self, path: &str) -> Option<&'g Node> {
        self.by_path.get(path).map(|n| &self.g.graph[*n])
    }

    fn cost(&self, path: &str) -> (u128, u128) {
        self.cost.get(path).copied().unwrap_or((0, 0))
    }

    /// The paths of the nodes feeding `path` by data edges.
    fn inputs(&self, path: &str) -> Vec<String> {
        let Some(&n) = self.by_path.get(path) else {
            return Vec::new();
        };
        let mut v: Vec<String> = self
            .g
            .data_inputs(n)
            .iter()
            .map(|(s, _)| self.g.graph[*s].path.clone())
            .collect();
        v.sort();
        v
    }

    /// The nearest upstream nodes (by data edges) whose paths `common` accepts.
    fn upstream(&self, path: &str, common: &dyn Fn(&str) -> bool) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<NodeIndex> = self.by_path.get(path).copied().into_iter().collect();
        while let Some(x) = stack.pop() {
            for (s, _) in self.g.data_inputs(x) {
                if !seen.insert(s) {
                    continue;
                }
                let p = &self.g.graph[s].path;
                if common(p) {
                    out.insert(p.clone());
                } else {
                    stack.push(s);
                }
            }
        }
        out
    }

    /// A loop node's source (its data input) and target (where its loop edge goes).
    fn loop_ends(&self, path: &str) -> (Option<String>, Option<String>) {
        let Some(&n) = self.by_path.get(path) else {
            return (None, None);
        };
        let source = self.inputs(path).into_iter().next();
        let target = self
            .g
            .graph
            .edges_directed(n, petgraph::Direction::Outgoing)
            .find(|e| matches!(e.weight().kind, EdgeKind::Loop { .. }))
            .map(|e| self.g.graph[e.target()].path.clone());
        (source, target)
    }
}

pub fn graphs_to_diff(a: &ArchGraph, b: &ArchGraph, w: Workload) -> Diff {
    let (sa, sb) = (Side::new(a, w), Side::new(b, w));
    let common = |p: &str| sa.by_path.contains_key(p) && sb.by_path.contains_key(p);

    let names =
        |s: &Side| -> Vec<String> { s.summary.items.iter().map(|i| i.name.clone()).collect() };
    let mut items = Vec::new();
    let mut loops = Vec::new();
    for name in merged(&names(&sa), &names(&sb)) {
        let ia = sa.summary.items.iter().find(|i| i.name == name);
        let ib = sb.summary.items.iter().find(|i| i.name == name);
        let paths = |i: Option<&crate::analyze::ItemCost>| -> Vec<String> {
            i.map(|i| i.nodes.iter().map(|n| n.path.clone()).collect())
                .unwrap_or_default()
        };
        let mut nodes = Vec::new();
        for path in merged(&paths(ia), &paths(ib)) {
            if let Some(d) = node_diff(&sa, &sb, &path, &common) {
                nodes.push(d);
            }
        }
        let kind = |i: Option<&crate::analyze::ItemCost>| i.map(|i| i.item.clone());
        let was = match (kind(ia), kind(ib)) {
            (Some(x), Some(y)) if x != y => Some(x),
            _ => None,
        };
        let status = match (ia, ib) {
            (None, _) => Status::Added,
            (_, None) => Status::Removed,
            _ if nodes.is_empty() && was.is_none() => Status::Same,
            _ => Status::Changed,
        };
        let moved = nodes.iter().any(|n| {
            n.changes
                .iter()
                .any(|c| c.field == "source" || c.field == "target")
        });
        if moved && ia.is_some_and(|i| i.item == "loop") {
            let (old_source, old_target) = sa.loop_ends(&name);
            let (new_source, new_target) = sb.loop_ends(&name);
            loops.push(LoopMove {
                name: name.clone(),
                old_source,
                new_source,
                old_target,
                new_target,
            });
        }
        items.push(ItemDiff {
            item: kind(ib).or(kind(ia)).unwrap_or_default(),
            name,
            status,
            was,
            nodes,
            params: Delta::new(ia.map_or(0, |i| i.params), ib.map_or(0, |i| i.params)),
            flops_forward: Delta::new(
                ia.map_or(0, |i| i.flops_forward),
                ib.map_or(0, |i| i.flops_forward),
            ),
        });
    }

    let params = param_changes(a, b);
    let masks = mask_changes(a, b);
    let lints = lint_changes(a, b);
    let equal = a.name == b.name
        && params.is_empty()
        && items.iter().all(|i| i.status == Status::Same)
        && loops.is_empty()
        && masks.is_empty()
        && lints.is_empty();
    let flops = |s: &Side| s.summary.items.iter().map(|i| i.flops_forward).sum();
    Diff {
        old_model: a.name.clone(),
        new_model: b.name.clone(),
        seq: w.seq,
        equal,
        params,
        items,
        loops,
        masks,
        lints,
        total_params: Delta::new(sa.summary.params, sb.summary.params),
        total_flops_forward: Delta::new(flops(&sa), flops(&sb)),
    }
}

/// One node's difference, or `None` when it is the same in both.
fn node_diff(sa: &Side, sb: &Side, path: &str, common: &dyn Fn(&str) -> bool) -> Option<NodeDiff> {
    let (na, nb) = (sa.node(path), sb.node(path));
    let (status, changes) = match (na, nb) {
        (Some(x), Some(y)) => {
            let mut changes = Vec::new();
            leaves("", Some(&node_json(x)), Some(&node_json(y)), &mut changes);
            let is_loop = matches!(x.kind, NodeKind::Loop { .. });
            if sa.upstream(path, common) != sb.upstream(path, common) {
                let list = |v: Vec<String>| Json::from(v);
                changes.push(Change {
                    field: if is_loop { "source" } else { "inputs" }.into(),
                    old: Some(list(sa.inputs(path))),
                    new: Some(list(sb.inputs(path))),
                });
            }
            let (ta, tb) = (sa.loop_ends(path).1, sb.loop_ends(path).1);
            if is_loop && ta != tb {
                changes.push(Change {
                    field: "target".into(),
                    old: ta.map(Json::from),
                    new: tb.map(Json::from),
                });
            }
            if changes.is_empty() {
                return None;
            }
            (Status::Changed, changes)
        }
        (None, Some(_)) => (Status::Added, Vec::new()),
        (Some(_), None) => (Status::Removed, Vec::new()),
        (None, None) => return None,
    };
    let ((pa, fa), (pb, fb)) = (sa.cost(path), sb.cost(path));
    let shown = nb.or(na)?;
    Some(NodeDiff {
        path: path.to_string(),
        status,
        what: match &shown.kind {
            NodeKind::Block(b) => format!("block {}", b.def),
            k => k.name().to_string(),
        },
        changes,
        params: Delta::new(
            if na.is_some() { pa } else { 0 },
            if nb.is_some() { pb } else { 0 },
        ),
        flops_forward: Delta::new(
            if na.is_some() { fa } else { 0 },
            if nb.is_some() { fb } else { 0 },
        ),
    })
}

/// A node as compared: its kind's fields, plus its output `width` and `rows`.
fn node_json(n: &Node) -> Json {
    let mut v = serde_json::to_value(&n.kind).unwrap_or(Json::Null);
    if let Json::Object(m) = &mut v {
        m.entry("width").or_insert_with(|| n.width.into());
        m.entry("rows").or_insert_with(|| n.rows.clone().into());
    }
    v
}

/// The leaves of `a` and `b` that differ. Objects with the same tag are compared field by
/// field; anything else (scalars, lists, objects of another kind) is one leaf.
fn leaves(prefix: &str, a: Option<&Json>, b: Option<&Json>, out: &mut Vec<Change>) {
    if a == b {
        return;
    }
    if let (Some(Json::Object(x)), Some(Json::Object(y))) = (a, b) {
        let tag =
            |m: &serde_json::Map<String, Json>| m.get("op").or_else(|| m.get("kind")).cloned();
        if tag(x) == tag(y) {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, x.get(k), y.get(k), out);
            }
            return;
        }
    }
    out.push(Change {
        field: if prefix.is_empty() { "kind" } else { prefix }.to_string(),
        old: a.cloned(),
        new: b.cloned(),
    });
}

/// The keys of `a` and `b` in one order: `b`'s, with those only in `a` where they stood.
fn merged(a: &[String], b: &[String]) -> Vec<String> {
    let pos: HashMap<&str, usize> = b.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    let mut j = 0;
    for k in a {
        match pos.get(k.as_str()) {
            Some(&p) if p >= j => {
                for x in &b[j..=p] {
                    if seen.insert(x) {
                        out.push(x.clone());
                    }
                }
                j = p + 1;
            }
            Some(_) => {}
            None => {
                if seen.insert(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    for x in &b[j..] {
        if seen.insert(x) {
            out.push(x.clone());
        }
    }
    out
}

fn param_changes(a: &ArchGraph, b: &ArchGraph) -> Vec<ParamChange> {
    let names =
        |g: &ArchGraph| -> Vec<String> { g.params.iter().map(|p| p.name.clone()).collect() };
    let value = |g: &ArchGraph, n: &str| g.params.iter().find(|p| p.name == n).map(|p| p.value);
    merged(&names(a), &names(b))
        .into_iter()
        .filter_map(|name| {
            let (old, new) = (value(a, &name), value(b, &name));
            (old != new).then_some(ParamChange { name, old, new })
        })
        .collect()
}

fn mask_changes(a: &ArchGraph, b: &ArchGraph) -> Vec<MaskChange> {
    let keys = |g: &ArchGraph| -> Vec<String> {
        g.masks
            .iter()
            .map(|m| format!("{}\u{0}{}", m.modality, m.region.name()))
            .collect()
    };
    let region = |g: &ArchGraph, k: &str| {
        g.masks
            .iter()
            .find(|m| format!("{}\u{0}{}", m.modality, m.region.name()) == k)
            .map(|m| m.region.clone())
    };
    merged(&keys(a), &keys(b))
        .into_iter()
        .filter_map(|k| {
            let (old, new) = (region(a, &k), region(b, &k));
            let status = match (&old, &new) {
                (None, _) => Status::Added,
                (_, None) => Status::Removed,
                (x, y) if x != y => Status::Changed,
                _ => return None,
            };
            let modality = k.split('\u{0}').next().unwrap_or_default().to_string();
            Some(MaskChange {
                modality,
                status,
                old,
                new,
            })
        })
        .collect()
}

fn lint_changes(a: &ArchGraph, b: &ArchGraph) -> Vec<LintChange> {
    let key = |l: &crate::model::LintAttr| (l.lint.name().to_string(), l.item.clone());
    let level = |g: &ArchGraph, k: &(String, Option<String>)| {
        g.lints
            .iter()
            .find(|l| key(l) == *k)
            .map(|l| l.level.as_str().to_string())
    };
    let mut seen = HashSet::new();
    a.lints
        .iter()
        .chain(&b.lints)
        .map(key)
        .filter(|k| seen.insert(k.clone()))
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|k| {
            let (old_level, new_level) = (level(a, &k), level(b, &k));
            let status = match (&old_level, &new_level) {
                (None, _) => Status::Added,
                (_, None) => Status::Removed,
                (x, y) if x != y => Status::Changed,
                _ => return None,
            };
            Some(LintChange {
                lint: k.0,
                item: k.1,
                status,
                old_level,
                new_level,
            })
        })
        .collect()
}
