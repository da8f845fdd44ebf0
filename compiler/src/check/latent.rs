//! The output-latent rule. A text head's output latent is the value entering its
//! projection. Only that head, or another text head, may read it. Norms, linear maps,
//! MLP layers and aliases pass it through unchanged; only a transformer block (or a
//! stem turning data into hidden states) makes a new value.

use crate::diag::Error;
use crate::graph::{ArchGraph, NodeKind, Owner};
use crate::model::{HeadKind, Model};
use petgraph::stable_graph::NodeIndex;

/// The node that really produced `n`'s value, looking through pass-throughs.
pub fn identity(g: &ArchGraph, mut n: NodeIndex) -> NodeIndex {
    for _ in 0..=g.graph.node_count() {
        if !g.graph[n].kind.is_pass_through() {
            return n;
        }
        match g.data_inputs(n).first() {
            Some((src, _)) => n = *src,
            None => return n,
        }
    }
    n
}

pub fn check(_model: &Model, g: &ArchGraph, errors: &mut Vec<Error>) {
    let text_heads: Vec<&str> = g
        .heads
        .iter()
        .filter(|h| h.kind == HeadKind::Text)
        .map(|h| h.name.as_str())
        .collect();
    // latent identity -> the text head it belongs to
    let latents: Vec<(NodeIndex, &crate::graph::HeadInfo)> = g
        .heads
        .iter()
        .filter(|h| h.kind == HeadKind::Text)
        .filter_map(|h| h.latent.map(|l| (identity(g, l), h)))
        .collect();
    if latents.is_empty() {
        return;
    }
    let mut reported: Vec<(String, String)> = Vec::new();
    let mut nodes: Vec<NodeIndex> = g.graph.node_indices().collect();
    nodes.sort();
    for n in nodes {
        let node = &g.graph[n];
        if node.kind.is_pass_through()
            || matches!(node.kind, NodeKind::Objective { .. } | NodeKind::Projection { .. } if own_text(&node.owner, &text_heads))
        {
            continue;
        }
        if let Owner::Head(h) = &node.owner {
            if text_heads.contains(&h.as_str()) {
                continue;
            }
        }
        for (src, edge) in g.data_inputs(n) {
            let id = identity(g, src);
            let Some((_, head)) = latents.iter().find(|(l, _)| *l == id) else {
                continue;
            };
            let consumer_item = node.owner.name().to_string();
            if reported.contains(&(head.name.clone(), consumer_item.clone())) {
                continue;
            }
            reported.push((head.name.clone(), consumer_item.clone()));
            let consumer = edge
                .span
                .or_else(|| entry_span(g, src, &node.owner))
                .unwrap_or(node.span);
            let value = &g.graph[id];
            errors.push(Error::OutputLatentShared {
                text_head: head.span,
                text_head_name: head.name.clone(),
                consumer,
                consumer_name: describe_consumer(node),
                consumer_item,
                // The latent comes out of the text head's own block: it has blocks.
                text_head_has_blocks: value.owner == Owner::Head(head.name.clone()),
                value: value.span,
                value_name: value.path.clone(),
                // Lint levels (allow/warn/deny) are applied in one place: `apply_lints`.
                allowed: None,
            });
        }
    }
}

fn own_text(owner: &Owner, text_heads: &[&str]) -> bool {
    matches!(owner, Owner::Head(h) if text_heads.contains(&h.as_str()))
}

fn describe_consumer(node: &crate::graph::Node) -> String {
    match &node.owner {
        Owner::Loop(n) => format!("loop `{n}`"),
        owner if owner.name() == node.path => owner.describe(),
        owner => format!("{} (at `{}`)", owner.describe(), node.path),
    }
}

/// The `from:` through which a consumer's pass-through chain entered its item.
fn entry_span(g: &ArchGraph, mut n: NodeIndex, owner: &Owner) -> Option<crate::span::Span> {
    for _ in 0..=g.graph.node_count() {
        if &g.graph[n].owner != owner || !g.graph[n].kind.is_pass_through() {
            return None;
        }
        let (src, e) = *g.data_inputs(n).first()?;
        if e.span.is_some() {
            return e.span;
        }
        n = src;
    }
    None
}
