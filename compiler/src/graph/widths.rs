//! Cycles and width flow: every data edge's producer and consumer agree on the width.

use super::*;
use crate::diag::Error;
use petgraph::algo::{kosaraju_scc, toposort};
use petgraph::visit::{EdgeFiltered, EdgeRef, IntoEdgeReferences};

fn data_only(
    g: &Graph,
) -> EdgeFiltered<&Graph, fn(petgraph::stable_graph::EdgeReference<'_, Edge>) -> bool> {
    EdgeFiltered::from_fn(g, |e| matches!(e.weight().kind, EdgeKind::Data { .. }))
}

/// Cycles through data edges are only legal as declared `loop`s. Returns true if none.
pub fn check_cycles(graph: &ArchGraph, errors: &mut Vec<Error>) -> bool {
    let g = &graph.graph;
    let view = data_only(g);
    // Both are iterative (tarjan_scc recurses, and 100,000 aliases would overflow).
    if toposort(&view, None).is_ok() {
        return true;
    }
    let mut ok = true;
    for scc in kosaraju_scc(&view) {
        let self_loop = scc.len() == 1 && g.edges_connecting(scc[0], scc[0]).next().is_some();
        if scc.len() < 2 && !self_loop {
            continue;
        }
        ok = false;
        let mut members: Vec<NodeIndex> = scc.clone();
        members.sort();
        // Point at the `from:` edges that close the cycle.
        let mut spans: Vec<Span> = g
            .edge_references()
            .filter(|e| members.contains(&e.source()) && members.contains(&e.target()))
            .filter_map(|e| e.weight().span)
            .collect();
        spans.sort();
        spans.dedup();
        let mut names: Vec<String> = Vec::new();
        for m in &members {
            let owner = g[*m].owner.describe();
            if !names.contains(&owner) {
                names.push(owner);
            }
        }
        let at = spans.first().copied().unwrap_or(g[members[0]].span);
        errors.push(Error::Cycle {
            at,
            members: names,
            spans,
        });
    }
    ok
}

/// Computes every node's output width in topological order and checks each edge.
pub fn infer_widths(graph: &mut ArchGraph, model: &Model, errors: &mut Vec<Error>) {
    let order = match toposort(&data_only(&graph.graph), None) {
        Ok(o) => o,
        Err(_) => return,
    };
    let trunk_width = model
        .trunk
        .as_ref()
        .and_then(|t| t.blocks.first())
        .map(|b| b.width);
    let mut heads: std::collections::HashMap<&str, &Head> = Default::default();
    for h in &model.heads {
        heads.entry(h.name.as_str()).or_insert(h);
    }
    for n in order {
        let inputs: Vec<(NodeIndex, Option<Span>)> = graph
            .data_inputs(n)
            .into_iter()
            .map(|(s, e)| (s, e.span))
            .collect();
        let in_width = inputs.first().map(|(s, _)| graph.graph[*s].width);
        let expect = |graph: &ArchGraph, want: u64, consumer: String, errors: &mut Vec<Error>| {
            for (src, span) in &inputs {
                let p = &graph.graph[*src];
                if p.width != want && p.width != 0 {
                    errors.push(Error::WidthMismatch {
                        producer: p.span,
                        producer_name: format!("`{}`", p.path),
                        producer_width: p.width,
                        // A block is blamed where it is instantiated; anything else where it reads.
                        consumer: match graph.graph[n].kind {
                            NodeKind::Block(_) => graph.graph[n].span,
                            _ => span.unwrap_or(graph.graph[n].span),
                        },
                        consumer_name: consumer.clone(),
                        consumer_width: want,
                    });
                }
            }
        };
        let path = graph.graph[n].path.clone();
        let width = match &graph.graph[n].kind {
            NodeKind::Input { .. } => graph.graph[n].width,
            NodeKind::Embedding(e) => e.dim,
            NodeKind::Positions { dim, .. } => *dim,
            NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => mlp.out,
            NodeKind::Merge { .. } => {
                let w = trunk_width.or(in_width).unwrap_or(0);
                expect(graph, w, format!("`{path}` (the trunk's input)"), errors);
                w
            }
            NodeKind::Block(b) => {
                let w = b.width;
                expect(graph, w, format!("`{path}` (a `{}` block)", b.def), errors);
                w
            }
            NodeKind::Norm(_) | NodeKind::Alias | NodeKind::Loop { .. } => in_width.unwrap_or(0),
            NodeKind::Linear { out, .. } => *out,
            NodeKind::Projection { .. } => projection_out(graph, n, model, &heads),
            NodeKind::Objective { .. } => 0,
        };
        let w_in = in_width.unwrap_or(0);
        match &mut graph.graph[n].kind {
            NodeKind::Adapter { input, .. }
            | NodeKind::Mlp { input, .. }
            | NodeKind::Linear { input, .. } => *input = w_in,
            NodeKind::Projection { input, out, .. } => {
                *input = w_in;
                *out = width;
            }
            NodeKind::Loop { width: lw, .. } => *lw = w_in,
            _ => {}
        }
        graph.graph[n].width = width;
    }
    // Edge shapes, from their producers.
    let edges: Vec<_> = graph.graph.edge_indices().collect();
    for e in edges {
        let (src, _) = graph.graph.edge_endpoints(e).expect("edge exists");
        let (rows, width) = (graph.graph[src].rows.clone(), graph.graph[src].width);
        if let EdgeKind::Data { rows: r, width: w } = &mut graph.graph[e].kind {
            *r = rows;
            *w = width;
        }
    }
    check_tied(graph, errors);
}

/// A projection's output width: the size of what its head predicts.
fn projection_out(
    graph: &ArchGraph,
    n: NodeIndex,
    model: &Model,
    heads: &std::collections::HashMap<&str, &Head>,
) -> u64 {
    let Owner::Head(name) = &graph.graph[n].owner else {
        return 0;
    };
    let Some(h) = heads.get(name.as_str()) else {
        return 0;
    };
    if let HeadKind::Classifier { classes } = h.kind {
        return classes;
    }
    let Some((target, _)) = &h.target else {
        return 0;
    };
    match model
        .stems
        .iter()
        .find(|s| &s.name == target)
        .map(|s| &s.kind)
    {
        Some(StemKind::Tokens { vocab, .. }) => *vocab,
        Some(StemKind::Codes { codebook, .. }) => *codebook,
        Some(StemKind::Features { dim, .. }) => *dim,
        None => 0,
    }
}

fn check_tied(graph: &ArchGraph, errors: &mut Vec<Error>) {
    for e in graph.graph.edge_references() {
        if e.weight().kind != EdgeKind::Tied {
            continue;
        }
        let (proj, emb) = (&graph.graph[e.source()], &graph.graph[e.target()]);
        if let (&NodeKind::Projection { input, out, .. }, NodeKind::Embedding(em)) =
            (&proj.kind, &emb.kind)
        {
            if out != em.vocab || input != em.dim {
                errors.push(Error::TiedShapeMismatch {
                    at: proj.span,
                    embedding: emb.span,
                    embedding_name: emb.path.clone(),
                    embedding_shape: [em.vocab, em.dim],
                    projection_shape: [out, input],
                });
            }
        }
    }
}
