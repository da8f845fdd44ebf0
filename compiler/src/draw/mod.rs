//! Pictures of the checked graph: [`graph_to_dot`] writes Graphviz DOT, [`dot_to_svg`]
//! lays it out and renders SVG with the pure-Rust `layout-rs` crate (no Graphviz).
//!
//! The DOT is plain Graphviz (a cluster per stem, trunk and head; `constraint=false`
//! on loop and tied edges) within what layout-rs 0.1.3 reads: boxes, fill and border
//! colours, edge colours, labels, `style=dashed`, `penwidth`. layout-rs flattens
//! subgraphs (no cluster boxes, so each label names its owner's kind), ignores
//! `constraint`, and has no dotted edges or node border styles. It turns around an
//! edge that closes a cycle, so loop and tied edges come last, after the data edges
//! that fix the top-to-bottom order. [`dot_to_svg`] maps `dotted` to `dashed` and a
//! node's `penwidth` to layout-rs's border `width`, and draws on its own `Canvas`.

mod fold;
mod svg;

pub use svg::dot_to_svg;

/// Above this many boxes the layout takes seconds and grows with about the cube of the
/// count (800 boxes: ~0.5 s; 1,600: ~4 s), so `archc build` skips the picture.
pub const MAX_DRAWN: usize = 800;

/// How many boxes the picture of `g` has, after folding runs of identical blocks.
pub fn drawn_count(g: &ArchGraph) -> usize {
    g.graph.node_count() - fold::fold_runs(g).rep.len()
}

use crate::graph::{ArchGraph, EdgeKind, Node, NodeKind, Owner};
use crate::model::{Inject, NormKind, Projection, Region, Steps};
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::HashMap;
use std::fmt::Write;

/// Per modality, in stem order: (fill, border and edges).
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
/// The trunk, and nodes of no single modality.
const NEUTRAL: (&str, &str) = ("#f0f0f0", "#555555");
const LOOP: (&str, &str) = ("#fde0dd", "#d62728");
const TIED: &str = "#7f7f7f";
/// The border of an input whose modality has a mask region other than causal.
const MASKED: &str = "#b00060";

/// The graph as Graphviz DOT text: deterministic (same graph, same bytes).
pub fn graph_to_dot(g: &ArchGraph) -> String {
    let folds = fold::fold_runs(g);
    // Each stem's place among the stems (its colour), each head's target, each
    // modality's mask regions: looked up per node, so held in maps.
    let mut stems: HashMap<&str, usize> = HashMap::new();
    for n in g.graph.node_indices() {
        if let Owner::Stem(s) = &g.graph[n].owner {
            let next = stems.len();
            stems.entry(s.as_str()).or_insert(next);
        }
    }
    let mut targets: HashMap<&str, Option<&str>> = HashMap::new();
    for h in &g.heads {
        targets
            .entry(h.name.as_str())
            .or_insert(h.target.as_deref());
    }
    let mut masks: HashMap<&str, Vec<&Region>> = HashMap::new();
    for m in &g.masks {
        masks
            .entry(m.modality.as_str())
            .or_default()
            .push(&m.region);
    }
    let colour = |n: NodeIndex| match g.graph[n].kind {
        NodeKind::Loop { .. } => LOOP,
        _ => modality(&targets, &g.graph[n])
            .and_then(|m| stems.get(m))
            .map_or(NEUTRAL, |&i| PALETTE[i % PALETTE.len()]),
    };
    let name = quote(&g.name);
    let mut out = format!(
        "digraph {name} {{\n  rankdir=TB;\n  label={name};\n  labelloc=t;\n  \
         fontname=\"Helvetica\";\n  node [shape=box, style=\"rounded,filled\", \
         fontname=\"Helvetica\", fontsize=14];\n  edge [fontname=\"Helvetica\", fontsize=12];\n"
    );
    // One cluster per stem, trunk and head, in the order their nodes come (file order).
    let mut groups: Vec<(Option<&Owner>, Vec<NodeIndex>)> = Vec::new();
    let mut group_of: HashMap<Option<&Owner>, usize> = HashMap::new();
    for n in g.graph.node_indices() {
        let owner = &g.graph[n].owner;
        let key =
            matches!(owner, Owner::Stem(_) | Owner::Trunk(_) | Owner::Head(_)).then_some(owner);
        match group_of.get(&key) {
            Some(&k) => groups[k].1.push(n),
            None => {
                group_of.insert(key, groups.len());
                groups.push((key, vec![n]));
            }
        }
    }
    for (i, (owner, members)) in groups.iter().enumerate() {
        if let Some(owner) = owner {
            let title = match owner {
                Owner::Trunk(_) => "trunk".to_string(),
                o => o.describe().replace('`', ""),
            };
            let (title, border) = (quote(&title), colour(members[0]).1);
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label={title};\n    style=rounded;\n    \
                 color=\"{border}\";"
            );
        }
        for &n in members {
            if folds.rep.contains_key(&n) {
                continue; // drawn as part of its run's first block
            }
            let ((fill, border), node) = (colour(n), &g.graph[n]);
            let regions = mask_regions(&masks, node);
            let mut text = label(node, &regions);
            if let (Some((count, last)), NodeKind::Block(b)) = (folds.runs.get(&n), &node.kind) {
                let last = last.rsplit('.').next().unwrap_or("");
                text = format!(
                    "{}..{last}\nblock {} x{count} d={}",
                    node.path, b.def, node.width
                );
            }
            let label = quote(&text);
            let attrs = if regions.iter().any(|r| !matches!(r, Region::Causal)) {
                // A thick dashed border in the mask colour (and double in Graphviz).
                format!(
                    "label={label}, style=\"rounded,filled,dashed\", penwidth=2, \
                     peripheries=2, fillcolor=\"{fill}\", color=\"{MASKED}\""
                )
            } else {
                format!("label={label}, fillcolor=\"{fill}\", color=\"{border}\"")
            };
            let indent = if owner.is_some() { "    " } else { "  " };
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
        let (from, to) = (folds.drawn(e.source()), folds.drawn(e.target()));
        if from == to && matches!(e.weight().kind, EdgeKind::Data { .. }) {
            continue; // inside a folded run
        }
        let attrs = match &e.weight().kind {
            EdgeKind::Data { rows, width } => {
                let shape = match width {
                    0 => format!("[{rows}] ids"),
                    w => format!("[{rows}, {w}]"),
                };
                let (shape, c) = (quote(&shape), colour(e.source()).1);
                format!("label={shape}, color=\"{c}\", fontcolor=\"{c}\"")
            }
            EdgeKind::Loop { name } => {
                let text = match &g.graph[e.source()].kind {
                    NodeKind::Loop { steps, inject, .. } => {
                        format!("{name}: {}", loop_text(steps, inject, ", "))
                    }
                    _ => name.clone(),
                };
                let (text, c) = (quote(&text), LOOP.1);
                format!(
                    "label={text}, style=dashed, color=\"{c}\", fontcolor=\"{c}\", penwidth=2, \
                     constraint=false"
                )
            }
            EdgeKind::Tied => format!(
                "label=\"tied\", style=dotted, color=\"{TIED}\", fontcolor=\"{TIED}\", \
                 constraint=false"
            ),
        };
        let _ = writeln!(out, "  n{} -> n{} [{attrs}];", from.index(), to.index());
    }
    out.push_str("}\n");
    out
}

/// The stem a node works for: its own, its head's target, else its rows' `S_<stem>`.
fn modality<'a>(targets: &HashMap<&str, Option<&'a str>>, node: &'a Node) -> Option<&'a str> {
    let target = match (&node.owner, &node.kind) {
        (Owner::Stem(s), _) => return Some(s),
        (Owner::Trunk(_), _) => return None,
        (
            _,
            NodeKind::Objective {
                target: Some(t), ..
            },
        ) => Some(t.as_str()),
        (Owner::Head(h), _) => targets.get(h.as_str()).copied().flatten(),
        _ => None,
    };
    target.or_else(|| node.rows.strip_prefix("S_"))
}

/// The mask regions of an input node's modality (none for other nodes).
fn mask_regions<'a>(masks: &HashMap<&str, Vec<&'a Region>>, node: &Node) -> Vec<&'a Region> {
    let NodeKind::Input { modality, .. } = &node.kind else {
        return Vec::new();
    };
    masks.get(modality.as_str()).cloned().unwrap_or_default()
}

/// `path`, then `owner: kind details d=width`, then one line per mask region.
fn label(node: &Node, regions: &[&Region]) -> String {
    let owner = match &node.owner {
        Owner::Stem(_) => "stem: ",
        Owner::Head(_) => "head: ",
        Owner::Layer(_) => "layer: ",
        _ => "",
    };
    let what = match &node.kind {
        NodeKind::Input { stem, .. } => format!("input {}", stem.name()),
        NodeKind::Block(b) => format!("block {}", b.def),
        NodeKind::Norm(n) => match n.kind {
            NormKind::Layernorm { .. } => "layernorm".into(),
            NormKind::Rmsnorm => "rmsnorm".into(),
        },
        NodeKind::Merge { stems } => format!("merge [{}]", stems.join(", ")),
        NodeKind::Projection { projection, .. } => match projection {
            Projection::Linear { .. } => "projection linear".into(),
            Projection::Tied { .. } => "projection tied".into(),
            Projection::Mlp { .. } => "projection mlp".into(),
            Projection::None => "projection none".into(),
        },
        NodeKind::Objective {
            objective,
            target: Some(t),
        } => format!("objective {} -> {t}", objective.kind.name()),
        NodeKind::Objective { objective, .. } => format!("objective {}", objective.kind.name()),
        k => k.name().into(),
    };
    let width = if node.width == 0 {
        String::new()
    } else {
        format!(" d={}", node.width)
    };
    let mut text = format!("{}\n{owner}{what}{width}", node.path);
    if let NodeKind::Loop { steps, inject, .. } = &node.kind {
        text += &format!("\n{}", loop_text(steps, inject, ", inject "));
    }
    for r in regions {
        text += &match r {
            Region::Prefix { len } => format!("\nmask: prefix {len}"),
            Region::Mntp { causal } => format!("\nmask: mntp, causal {causal}"),
            Region::MaskTokens { min_rate, max_rate } => {
                format!("\nmask: mask_tokens {min_rate:?}..{max_rate:?}")
            }
            Region::Scales { sides } => format!("\nmask: scales {sides:?}"),
            r => format!("\nmask: {}", r.name()),
        };
    }
    text
}

fn loop_text(steps: &Steps, inject: &Inject, sep: &str) -> String {
    let steps = match steps {
        Steps::Fixed { n } => format!("x{n}"),
        Steps::Sampled { mean, backprop } => format!("x~{mean} (backprop {backprop})"),
        Steps::Entropy {
            head,
            threshold,
            max,
        } => format!("while H({head}) > {threshold}, max {max}"),
    };
    let inject = match inject {
        Inject::Add => "add",
        Inject::Replace => "replace",
        Inject::ConcatLinear => "concat_linear",
    };
    format!("{steps}{sep}{inject}")
}

/// A DOT string literal: quotes and backslashes escaped, line breaks as `\n`.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out + "\""
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(model: &str) -> (ArchGraph, String) {
        let path = format!("{}/../models/{model}.arch", env!("CARGO_MANIFEST_DIR"));
        let checked =
            crate::check_source(&std::fs::read_to_string(path).unwrap(), &Default::default());
        let g = checked.graph.expect("the model checks");
        let dot = graph_to_dot(&g);
        (g, dot)
    }

    /// The DOT line that declares the node at `path`.
    fn node<'a>(dot: &'a str, path: &str) -> &'a str {
        let key = format!("label=\"{path}\\n");
        dot.lines().find(|l| l.contains(&key)).expect(path)
    }

    #[test]
    fn identical_blocks_fold_unless_something_reads_between_them() {
        // perfect-vlm: 22 identical trunk blocks, nothing reads between them: one box.
        let (_, dot) = load("perfect-vlm");
        assert!(
            dot.contains("trunk.blocks.0..21\\nblock llama x22"),
            "{dot}"
        );
        // A head reading trunk.blocks.3.out splits the run there.
        let src = "param d = 64\nblock b(width = d) {\n  width: width\n  norm: rmsnorm\n  attention: attention(heads = 4)\n  mlp: gelu(hidden = 128)\n}\nstem t: tokens(vocab = 16, max_len = 8) {\n  embed: embedding(dim = d)\n}\ntrunk {\n  blocks: b x 10\n}\nhead lm: text {\n  blocks: b x 1\n  objective: next_token\n}\nhead early: text {\n  from: trunk.blocks.3.out\n  blocks: b x 1\n  objective: next_token\n}\n";
        let c = crate::check_source(src, &crate::CheckOptions::default());
        assert!(!c.has_errors(), "{:?}", c.diagnostics);
        let dot = graph_to_dot(c.graph.as_ref().unwrap());
        assert!(dot.contains("trunk.blocks.0..3\\nblock b x4"), "{dot}");
        assert!(dot.contains("trunk.blocks.4..9\\nblock b x6"), "{dot}");
    }

    #[test]
    fn every_node_drawn_deterministically() {
        for m in ["gpt2-tiny", "perfect-vlm", "latent-loop", "coconut-gpt2"] {
            let (g, dot) = load(m);
            assert_eq!(dot, graph_to_dot(&g), "{m}");
            let svg = dot_to_svg(&dot).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert!(
                svg.starts_with("<svg") && svg == dot_to_svg(&dot).unwrap(),
                "{m}"
            );
            // Every node is drawn: as its own box, or inside its run's folded box.
            let folds = fold::fold_runs(&g);
            for n in g.graph.node_indices() {
                let shown = folds.drawn(n);
                let path = match folds.runs.get(&shown) {
                    Some((count, last)) => {
                        let last = last.rsplit('.').next().unwrap_or("");
                        assert!(dot.contains(&format!(" x{count} ")), "{m}");
                        format!("{}..{last}", g.graph[shown].path)
                    }
                    None => g.graph[shown].path.clone(),
                };
                node(&dot, &path);
                assert!(svg.contains(&format!(">{path}</tspan>")), "{m}: {path}");
            }
            assert!(
                dot.contains("[label=\"[S, "),
                "{m}: data edges carry shapes"
            );
        }
    }

    #[test]
    fn colours_follow_modality_and_masks_are_marked() {
        let (_, dot) = load("perfect-vlm");
        let fill = |p| node(&dot, p).split("fillcolor=").nth(1).unwrap()[..9].to_string();
        assert_eq!(fill("text.embed"), fill("lm.norm"));
        assert_eq!(fill("image.adapter"), fill("siglip.norm"));
        assert_eq!(fill("vq.embed"), fill("gen.objective"));
        assert_eq!(fill("trunk.in"), format!("\"{}\"", NEUTRAL.0));
        let all = ["text.embed", "image.adapter", "vq.embed", "trunk.in"].map(fill);
        assert_eq!(
            all.iter().collect::<std::collections::BTreeSet<_>>().len(),
            4
        );
        assert!(dot.contains("subgraph cluster_0 {\n    label=\"stem text\";"));
        let image = node(&dot, "image.input");
        assert!(image.contains("\\nmask: bidirectional\\nmask: mask_tokens 0.0..1.0\""));
        assert!(
            image.contains("penwidth=2") && image.contains(MASKED),
            "{image}"
        );
        let vq = node(&dot, "vq.input"); // causal, the default: listed, not marked
        assert!(
            vq.contains("\\nmask: causal\"") && !vq.contains("penwidth"),
            "{vq}"
        );
        assert!(!node(&dot, "text.input").contains("mask"));
        let svg = dot_to_svg(&dot).unwrap();
        assert!(svg.contains(">mask: bidirectional</tspan>"));
        assert!(svg.contains(&format!(
            "stroke='{MASKED}' stroke-width='2' stroke-dasharray"
        )));
    }

    #[test]
    fn loops_are_dashed_back_edges_and_tied_edges_dotted() {
        let (_, dot) = load("latent-loop");
        let edge = dot
            .lines()
            .find(|l| l.contains("think: while H(lm) > 2, max 8, add"));
        let edge = edge.unwrap();
        assert!(edge.contains("style=dashed") && edge.contains("constraint=false"));
        // Last, after every data edge, so that layout-rs sees it close the cycle.
        assert_eq!(dot.lines().rev().nth(1), Some(edge));
        let (_, dot) = load("coconut-gpt2");
        assert!(dot.contains("[label=\"thought: x6, replace\", style=dashed"));
        assert!(dot.contains("[label=\"tied\", style=dotted"));
    }

    #[test]
    fn labels_are_escaped_and_bad_dot_is_an_error() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        let x = format!(
            "digraph {{ x [shape=box, label={}] }}",
            quote("a\"b\\c<d>'")
        );
        assert!(dot_to_svg(&x)
            .unwrap()
            .contains(">a\"b\\c&lt;d&gt;&apos;</tspan>"));
        // Parse errors, and layout-rs panics (empty graph, broken record) caught.
        let record = "digraph { a [shape=record, label=\"{\"] }";
        for bad in [
            "",
            "garbage",
            "digraph {",
            "digraph { a -> }",
            "digraph {}",
            record,
        ] {
            assert!(dot_to_svg(bad).is_err(), "{bad:?}");
        }
    }
}
