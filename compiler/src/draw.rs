//! Pictures of the checked graph: [`graph_to_dot`] writes Graphviz DOT, [`dot_to_svg`]
//! lays it out and renders SVG with the pure-Rust `layout-rs` crate (no Graphviz).
//!
//! The DOT is written for both renderers. It is valid Graphviz (clusters per stem,
//! trunk and head, `constraint=false` on loop and tied edges), and it stays inside
//! what layout-rs 0.1.3 draws: boxes, fill and border colours, edge colours and
//! labels, dashed edges. layout-rs flattens subgraphs (no cluster boxes), ignores
//! `constraint`, draws `dotted` as solid and has no node border styles; it turns
//! edges that close a cycle around by itself, so loop and tied edges are written
//! last, after the data edges that fix the top-to-bottom order.

use crate::graph::{ArchGraph, EdgeKind, Node, NodeKind, Owner};
use crate::model::{Inject, NormKind, Projection, Region, Steps};
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::fmt::Write;

/// Per modality, by stem order: (fill, border and edge colour).
const PALETTE: [(&str, &str); 8] = [
    ("#dbe9f6", "#1f77b4"),
    ("#fde3c8", "#d9620b"),
    ("#d5efd0", "#2ca02c"),
    ("#e7dcf2", "#9467bd"),
    ("#f9d5e5", "#c2185b"),
    ("#d3f1f4", "#138d9c"),
    ("#efe9c9", "#8c7a0c"),
    ("#e4d7cf", "#8c564b"),
];
/// The trunk and anything shared by several modalities.
const NEUTRAL: (&str, &str) = ("#f0f0f0", "#555555");
const LOOP: (&str, &str) = ("#fde0dd", "#d62728");
const TIED: &str = "#7f7f7f";
/// The border of an input that carries a mask region other than causal.
const MASKED_BORDER: &str = "#b00060";

/// The graph as Graphviz DOT text: deterministic (same graph, same bytes).
pub fn graph_to_dot(g: &ArchGraph) -> String {
    let stems = stem_order(g);
    let colour = |n: NodeIndex| -> (&'static str, &'static str) {
        let node = &g.graph[n];
        if let NodeKind::Loop { .. } = node.kind {
            return LOOP;
        }
        modality(g, node)
            .and_then(|m| stems.iter().position(|s| *s == m))
            .map_or(NEUTRAL, |i| PALETTE[i % PALETTE.len()])
    };
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&g.name));
    out.push_str(
        "  rankdir=TB;\n  newrank=true;\n  nodesep=0.3;\n  ranksep=0.35;\n  \
         labelloc=t;\n  fontname=\"Helvetica\";\n",
    );
    let _ = writeln!(out, "  label={};", quote(&g.name));
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=12];\n  \
         edge [fontname=\"Helvetica\", fontsize=12, arrowsize=0.7];\n",
    );

    // Clusters, in the order the items first appear among the nodes (file order).
    let mut groups: Vec<(Option<&Owner>, Vec<NodeIndex>)> = Vec::new();
    for n in g.graph.node_indices() {
        let owner = &g.graph[n].owner;
        let key = match owner {
            Owner::Stem(_) | Owner::Trunk(_) | Owner::Head(_) => Some(owner),
            _ => None,
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(n),
            None => groups.push((key, vec![n])),
        }
    }
    for (i, (owner, members)) in groups.iter().enumerate() {
        let indent = if owner.is_some() { "    " } else { "  " };
        if let Some(owner) = owner {
            let (fill, border) = members.first().map_or(NEUTRAL, |n| colour(*n));
            let _ = writeln!(out, "  subgraph cluster_{i} {{");
            let _ = writeln!(
                out,
                "    label={};\n    style=\"rounded,filled\";\n    fillcolor=\"{}\";\n    \
                 color=\"{border}\";",
                quote(&owner.describe().replace('`', "")),
                lighter(fill),
            );
        }
        for &n in members {
            let (fill, border) = colour(n);
            let node = &g.graph[n];
            let regions = mask_regions(g, node);
            let mut attrs = format!(
                "label={}, fillcolor=\"{fill}\", color=\"{border}\"",
                quote(&label(node, &regions))
            );
            if regions.iter().any(|r| !matches!(r, Region::Causal)) {
                // Graphviz: a double, dashed border; layout-rs: a rounded record
                // outlined in the mask colour.
                attrs = format!(
                    "label={}, shape=Mrecord, style=\"rounded,filled,dashed,bold\", \
                     peripheries=2, fillcolor=\"{fill}\", color=\"{MASKED_BORDER}\"",
                    quote(&label(node, &regions))
                );
            }
            let _ = writeln!(out, "{indent}n{} [{attrs}];", n.index());
        }
        if owner.is_some() {
            out.push_str("  }\n");
        }
    }

    // Data edges first (they fix the ranks), then tied and loop edges, which go back up.
    let mut edges: Vec<_> = (&g.graph).edge_references().collect();
    edges.sort_by_key(|e| {
        let order = match e.weight().kind {
            EdgeKind::Data { .. } => 0,
            EdgeKind::Tied => 1,
            EdgeKind::Loop { .. } => 2,
        };
        (order, e.source().index(), e.target().index())
    });
    for e in edges {
        let (s, t) = (e.source().index(), e.target().index());
        let attrs = match &e.weight().kind {
            EdgeKind::Data { rows, width } => {
                let shape = if *width == 0 {
                    format!("[{rows}] ids")
                } else {
                    format!("[{rows}, {width}]")
                };
                let (_, border) = colour(e.source());
                format!(
                    "label={}, color=\"{border}\", fontcolor=\"{border}\"",
                    quote(&shape)
                )
            }
            EdgeKind::Loop { name } => {
                let text = match &g.graph[e.source()].kind {
                    NodeKind::Loop { steps, inject, .. } => {
                        format!("{name}: {}, {}", steps_text(steps), inject_text(inject))
                    }
                    _ => name.clone(),
                };
                let c = LOOP.1;
                format!(
                    "label={}, style=dashed, color=\"{c}\", fontcolor=\"{c}\", penwidth=2, \
                     constraint=false",
                    quote(&text)
                )
            }
            EdgeKind::Tied => format!(
                "label=\"tied\", style=dotted, color=\"{TIED}\", fontcolor=\"{TIED}\", \
                 arrowhead=none, constraint=false"
            ),
        };
        let _ = writeln!(out, "  n{s} -> n{t} [{attrs}];");
    }
    out.push_str("}\n");
    out
}

/// Lays out DOT and renders SVG with the layout-rs crate (pure Rust, no Graphviz).
///
/// layout-rs panics on some inputs it cannot lay out; those panics are caught and
/// returned as `Err` (the default panic hook still reports them on stderr).
pub fn dot_to_svg(dot: &str) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let mut parser = DotParser::new(dot);
    let ast = parser
        .process()
        .map_err(|e| format!("DOT does not parse: {e}"))?;
    std::panic::catch_unwind(|| {
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut graph = builder.get();
        let mut svg = SVGWriter::new();
        graph.do_it(false, false, false, &mut svg);
        svg.finalize()
    })
    .map_err(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        format!("layout failed: {why}")
    })
}

/// The stems in the order their first node appears (file order).
fn stem_order(g: &ArchGraph) -> Vec<&str> {
    let mut stems: Vec<&str> = Vec::new();
    for n in g.graph.node_indices() {
        if let Owner::Stem(s) = &g.graph[n].owner {
            if !stems.contains(&s.as_str()) {
                stems.push(s);
            }
        }
    }
    stems
}

/// The stem a node works for: its own stem, a head's target, else its rows `S_<stem>`.
fn modality<'a>(g: &'a ArchGraph, node: &'a Node) -> Option<&'a str> {
    match &node.owner {
        Owner::Stem(s) => return Some(s),
        Owner::Trunk(_) => return None,
        Owner::Head(h) => {
            let target = g
                .heads
                .iter()
                .find(|i| &i.name == h)
                .and_then(|i| i.target.as_deref());
            if let Some(t) = target {
                return Some(t);
            }
            if let NodeKind::Objective {
                target: Some(t), ..
            } = &node.kind
            {
                return Some(t);
            }
        }
        _ => {}
    }
    node.rows.strip_prefix("S_")
}

/// The mask regions of an input node's modality (none for other nodes).
fn mask_regions<'a>(g: &'a ArchGraph, node: &Node) -> Vec<&'a Region> {
    match &node.kind {
        NodeKind::Input { modality, .. } => g
            .masks
            .iter()
            .filter(|m| &m.modality == modality)
            .map(|m| &m.region)
            .collect(),
        _ => Vec::new(),
    }
}

fn label(node: &Node, regions: &[&Region]) -> String {
    let d = |w: u64| {
        if w == 0 {
            String::new()
        } else {
            format!(" d={w}")
        }
    };
    let kind = node.kind.name();
    let mut lines = vec![node.path.clone()];
    lines.push(match &node.kind {
        NodeKind::Input { stem, .. } => format!("input {}{}", stem.name(), d(node.width)),
        NodeKind::Block(b) => format!("block {}{}", b.def, d(node.width)),
        NodeKind::Norm(n) => match n.kind {
            NormKind::Layernorm { .. } => format!("layernorm{}", d(node.width)),
            NormKind::Rmsnorm => format!("rmsnorm{}", d(node.width)),
        },
        NodeKind::Merge { stems } => format!("merge [{}]{}", stems.join(", "), d(node.width)),
        NodeKind::Projection { projection, .. } => {
            let how = match projection {
                Projection::Linear { .. } => "linear",
                Projection::Tied { .. } => "tied",
                Projection::Mlp { .. } => "mlp",
                Projection::None => "none",
            };
            format!("projection {how}{}", d(node.width))
        }
        NodeKind::Objective { objective, target } => match target {
            Some(t) => format!("objective {} -> {t}", objective.kind.name()),
            None => format!("objective {}", objective.kind.name()),
        },
        NodeKind::Loop { steps, inject, .. } => {
            format!(
                "loop{}: {}, {}",
                d(node.width),
                steps_text(steps),
                inject_text(inject)
            )
        }
        _ => format!("{kind}{}", d(node.width)),
    });
    for r in regions {
        lines.push(format!("mask: {}", region_text(r)));
    }
    lines.join("\n")
}

fn steps_text(s: &Steps) -> String {
    match s {
        Steps::Fixed { n } => format!("x{n}"),
        Steps::Sampled { mean, backprop } => format!("x~{mean} (backprop {backprop})"),
        Steps::Entropy {
            head,
            threshold,
            max,
        } => {
            format!("while H({head}) > {threshold}, max {max}")
        }
    }
}

fn inject_text(i: &Inject) -> &'static str {
    match i {
        Inject::Add => "add",
        Inject::Replace => "replace",
        Inject::ConcatLinear => "concat_linear",
    }
}

fn region_text(r: &Region) -> String {
    match r {
        Region::Prefix { len } => format!("prefix {len}"),
        Region::MaskTokens { min_rate, max_rate } => {
            format!("mask_tokens {min_rate}..{max_rate}")
        }
        Region::Scales { sides } => {
            let s: Vec<String> = sides.iter().map(u64::to_string).collect();
            format!("scales {}", s.join(" "))
        }
        _ => r.name().to_string(),
    }
}

/// A cluster's background: the node fill mixed halfway with white.
fn lighter(hex: &str) -> String {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0xffffff);
    let mix = |shift: u32| (((v >> shift) & 0xff) + 0xff) / 2;
    format!("#{:02x}{:02x}{:02x}", mix(16), mix(8), mix(0))
}

/// A DOT string literal: quotes and backslashes escaped, newlines as `\n`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
