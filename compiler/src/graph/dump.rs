//! `archc check --emit graph`: the checked graph as JSON — every node with its index and
//! span, every edge, the heads (projection, output latent, objective) and the items'
//! output nodes. The IR is the same graph without spans and without what the checks
//! derive; this is the form to read when a check's verdict needs explaining.

use super::{ArchGraph, NodeIndex};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use serde_json::{json, Value};

pub fn graph_to_json(g: &ArchGraph) -> Value {
    let idx = |n: NodeIndex| n.index();
    let mut order: Vec<NodeIndex> = g.graph.node_indices().collect();
    order.sort();
    let nodes: Vec<Value> = order
        .iter()
        .map(|&n| {
            let node = &g.graph[n];
            let mut v = serde_json::to_value(node).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("index".into(), json!(idx(n)));
                m.insert("span".into(), json!(node.span));
            }
            v
        })
        .collect();
    let mut edges: Vec<Value> = (&g.graph)
        .edge_references()
        .map(|e| {
            let mut v = serde_json::to_value(&e.weight().kind).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("from".into(), json!(idx(e.source())));
                m.insert("to".into(), json!(idx(e.target())));
                m.insert("span".into(), json!(e.weight().span));
            }
            v
        })
        .collect();
    edges.sort_by_key(|e| (e["from"].as_u64(), e["to"].as_u64()));
    let heads: Vec<Value> = g
        .heads
        .iter()
        .map(|h| {
            json!({
                "name": h.name,
                "kind": h.kind,
                "target": h.target,
                "projection": h.projection.map(idx),
                "latent": h.latent.map(idx),
                "objective": h.objective,
                "span": h.span,
            })
        })
        .collect();
    let outputs: Vec<Value> = g
        .outputs
        .iter()
        .map(|(item, n)| json!({ "item": item, "node": idx(*n) }))
        .collect();
    let ir = crate::graph_to_ir(g);
    json!({
        "model": g.name,
        "params": ir.params,
        "lints": ir.lints,
        "masks": ir.masks,
        "nodes": nodes,
        "edges": edges,
        "heads": heads,
        "outputs": outputs,
    })
}
