//! Pictures of the checked graph: [`graph_to_dot`] writes Graphviz DOT, [`dot_to_svg`]
//! lays it out and renders SVG with the pure-Rust `layout-rs` crate (no Graphviz).
//!
//! The DOT is plain Graphviz (a cluster per stem, trunk and head; `constraint=false`
//! on loop and tied edges) that stays inside what layout-rs 0.1.3 understands: boxes,
//! fill and border colours, edge colours, labels and `style=dashed`, `penwidth`.
//! layout-rs parses subgraphs but flattens them (no cluster boxes: the owner is in
//! each label instead), ignores `constraint`, and has no dotted edges or node border
//! styles. It turns an edge that closes a cycle around by itself, so loop and tied
//! edges are written last, after the data edges that fix the top-to-bottom order.
//! [`dot_to_svg`] maps the Graphviz attributes it lacks onto its own (`dotted` →
//! `dashed`, node `penwidth` → its border `width`) and draws with its own SVG canvas
//! ([`Canvas`]): deterministic bytes, sans-serif text, boxes sized to their text.

use crate::graph::{ArchGraph, EdgeKind, Node, NodeKind, Owner};
use crate::model::{Inject, NormKind, Projection, Region, Steps};
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::gv::parser::ast;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;
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
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=14];\n  \
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
                quote(&match owner {
                    Owner::Trunk(_) => "trunk".to_string(),
                    o => o.describe().replace('`', ""),
                }),
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
                // A thick dashed border in the mask colour (double in Graphviz).
                attrs = format!(
                    "label={}, style=\"rounded,filled,dashed\", penwidth=2, peripheries=2, \
                     fillcolor=\"{fill}\", color=\"{MASKED_BORDER}\"",
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
/// layout-rs asserts on some graphs it cannot lay out; such a panic is caught and
/// returned as `Err` (the default panic hook still reports it on stderr).
pub fn dot_to_svg(dot: &str) -> Result<String, String> {
    use layout::gv::{DotParser, GraphBuilder};
    use layout::std_shapes::shapes::ShapeKind;
    let mut parsed = DotParser::new(dot)
        .process()
        .map_err(|e| format!("DOT does not parse: {e}"))?;
    adapt(&mut parsed);
    std::panic::catch_unwind(move || {
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&parsed);
        let mut graph = builder.get();
        // layout-rs sizes text at one em per character; fit boxes to Helvetica.
        for h in graph.iter_nodes().collect::<Vec<_>>() {
            let e = graph.element_mut(h);
            if let ShapeKind::Box(text) = &e.shape {
                let fs = e.look.font_size as f64;
                let chars = text.lines().map(|l| l.chars().count()).max().unwrap_or(1);
                let lines = text.lines().count().max(1);
                e.pos.set_size(Point::new(
                    chars as f64 * fs * 0.6 + 20.,
                    lines as f64 * fs * 1.2 + 12.,
                ));
            }
        }
        let mut canvas = Canvas::default();
        graph.do_it(false, false, false, &mut canvas);
        canvas.finish()
    })
    .map_err(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("layout failed: {why}")
    })
}

/// Graphviz attributes onto layout-rs's: `dotted` edges become `dashed` (it has no
/// dots), and a node's `penwidth` becomes `width`, its name for the border width
/// (Graphviz's `width` is the node's size, so that one is dropped).
fn adapt(g: &mut ast::Graph) {
    fn node(l: &mut ast::AttributeList) {
        l.list.retain(|(k, _)| k != "width");
        if let Some((_, w)) = l.list.iter().find(|(k, _)| k == "penwidth").cloned() {
            l.list.push(("width".into(), w));
        }
    }
    fn edge(l: &mut ast::AttributeList) {
        for (k, v) in &mut l.list {
            if k == "style" && v.contains("dotted") {
                *v = "dashed".into();
            }
        }
    }
    for s in &mut g.list.list {
        match s {
            ast::Stmt::Node(n) => node(&mut n.list),
            ast::Stmt::Edge(e) => edge(&mut e.list),
            ast::Stmt::SubGraph(g) => adapt(g),
            ast::Stmt::Attribute(a) => match a.target {
                ast::AttrStmtTarget::Node => node(&mut a.list),
                ast::AttrStmtTarget::Edge => edge(&mut a.list),
                ast::AttrStmtTarget::Graph => {}
            },
        }
    }
}

/// An SVG canvas for layout-rs. Unlike its `SVGWriter`, the bytes do not depend on
/// hash order, the picture is sized to what is drawn, text is sans-serif, a thick
/// border (a mask region) is dashed, and edge labels sit beside their edge in its
/// colour, drawn last so lines do not cross them.
#[derive(Default)]
struct Canvas {
    body: String,
    defs: BTreeSet<String>,
    size: (f64, f64),
    clips: usize,
    /// The centre of the last shape drawn: text centred elsewhere is an edge label.
    shape_at: Option<(f64, f64)>,
    /// Edge labels: the point their edge passes through, text, size, colour.
    labels: Vec<((f64, f64), String, f64, String)>,
}

fn web(c: Color) -> String {
    c.to_web_color()[..7].to_string()
}

fn near(a: (f64, f64), b: Point) -> bool {
    (a.0 - b.x).abs() < 0.5 && (a.1 - b.y).abs() < 0.5
}

impl Canvas {
    fn grow(&mut self, x: f64, y: f64) {
        self.size = (self.size.0.max(x), self.size.1.max(y));
    }

    fn text(&mut self, x: f64, y: f64, text: &str, fs: f64, fill: &str, anchor: &str) {
        let lines: Vec<&str> = text.lines().collect();
        let top = y - lines.len() as f64 * fs * 0.6;
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
        let right = if anchor == "end" {
            x
        } else {
            x + widest * fs * 0.3
        };
        self.grow(right, top + lines.len() as f64 * fs * 1.2);
        let _ = write!(
            self.body,
            "<text x=\"{x}\" y=\"{top}\" font-size=\"{fs}\" fill=\"{fill}\" \
             text-anchor=\"{anchor}\" paint-order=\"stroke\" stroke=\"white\" stroke-width=\"3\">"
        );
        for (i, l) in lines.iter().enumerate() {
            let dy = if i == 0 { fs * 0.95 } else { fs * 1.2 };
            let _ = write!(self.body, "<tspan x=\"{x}\" dy=\"{dy}\">{}</tspan>", xml(l));
        }
        self.body.push_str("</text>\n");
    }

    fn finish(mut self) -> String {
        for ((x, y), text, fs, colour) in std::mem::take(&mut self.labels) {
            self.text(x - 6., y, &text, fs, &colour, "end");
        }
        let (w, h) = (self.size.0.ceil() + 10., self.size.1.ceil() + 10.);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\">\n<defs>\n"
        );
        for d in &self.defs {
            let _ = writeln!(s, "{d}");
        }
        s.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        s.push_str(&self.body);
        s.push_str("</svg>\n");
        s
    }
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        _: Option<String>,
        clip: Option<ClipHandle>,
    ) {
        self.grow(xy.x + size.x, xy.y + size.y);
        self.shape_at = Some((xy.x + size.x / 2., xy.y + size.y / 2.));
        let fill = look.fill_color.map_or("none".into(), web);
        let dash = if look.line_width >= 2 {
            " stroke-dasharray=\"7,3\""
        } else {
            ""
        };
        let clip = clip.map_or(String::new(), |c| format!(" clip-path=\"url(#c{c})\""));
        let _ = writeln!(
            self.body,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"{fill}\" \
             stroke=\"{}\" stroke-width=\"{}\"{dash}{clip}/>",
            xy.x,
            xy.y,
            size.x,
            size.y,
            look.rounded.max(6),
            web(look.line_color),
            look.line_width
        );
    }

    fn draw_line(&mut self, a: Point, b: Point, look: &StyleAttr, _: Option<String>) {
        self.grow(a.x.max(b.x), a.y.max(b.y));
        let _ = writeln!(
            self.body,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            a.x,
            a.y,
            b.x,
            b.y,
            web(look.line_color),
            look.line_width
        );
    }

    fn draw_circle(&mut self, xy: Point, size: Point, look: &StyleAttr, _: Option<String>) {
        self.grow(xy.x + size.x / 2., xy.y + size.y / 2.);
        self.shape_at = Some((xy.x, xy.y));
        let fill = look.fill_color.map_or("none".into(), web);
        let _ = writeln!(
            self.body,
            "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"{fill}\" stroke=\"{}\"/>",
            xy.x,
            xy.y,
            size.x / 2.,
            size.y / 2.,
            web(look.line_color)
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        if self.shape_at.is_some_and(|c| near(c, xy)) {
            let fs = look.font_size.min(14) as f64;
            return self.text(xy.x, xy.y, text, fs, "#000000", "middle");
        }
        // A label connector: layout-rs made it one em per character (+10) wide and
        // runs the edge through its right-hand side.
        let chars = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let edge_x = xy.x + (chars * look.font_size + 10) as f64 / 2.;
        let fs = look.font_size.min(12) as f64;
        self.labels
            .push(((edge_x, xy.y), text.to_string(), fs, web(look.line_color)));
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        look: &StyleAttr,
        _: Option<String>,
        _text: &str,
    ) {
        // layout-rs moved every label onto a connector before drawing: `_text` is "".
        let Some(((p, c), rest)) = path.split_first() else {
            return;
        };
        let colour = web(look.line_color);
        let mut d = format!("M {} {}", p.x, p.y);
        for (i, (q, k)) in rest.iter().enumerate() {
            self.grow(q.x.max(k.x), q.y.max(k.y));
            // A label moved along its edge lost the edge's colour: give it back.
            for label in self.labels.iter_mut().filter(|l| near(l.0, *k)) {
                label.3 = colour.clone();
            }
            let _ = if i == 0 {
                write!(d, " C {} {}, {} {}, {} {}", c.x, c.y, q.x, q.y, k.x, k.y)
            } else {
                write!(d, " S {} {}, {} {}", q.x, q.y, k.x, k.y)
            };
        }
        let id = format!("m{}", &colour[1..]);
        self.defs.insert(format!(
            "<marker id=\"{id}\" markerWidth=\"10\" markerHeight=\"7\" refX=\"10\" refY=\"3.5\" \
             orient=\"auto-start-reverse\"><polygon points=\"0 0, 10 3.5, 0 7\" fill=\"{colour}\"/></marker>"
        ));
        let dash = if dashed {
            " stroke-dasharray=\"8,5\""
        } else {
            ""
        };
        let start = if head.0 {
            format!(" marker-start=\"url(#{id})\"")
        } else {
            String::new()
        };
        let end = if head.1 {
            format!(" marker-end=\"url(#{id})\"")
        } else {
            String::new()
        };
        let _ = writeln!(
            self.body,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{}\"{dash}{start}{end}/>",
            look.line_width
        );
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded: usize) -> ClipHandle {
        self.clips += 1;
        self.defs.insert(format!(
            "<clipPath id=\"c{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rounded}\"/></clipPath>",
            self.clips - 1, xy.x, xy.y, size.x, size.y
        ));
        self.clips - 1
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
    // layout-rs draws no clusters, so the owner's kind leads the second line.
    let owner = match &node.owner {
        Owner::Stem(_) => "stem: ",
        Owner::Head(_) => "head: ",
        Owner::Layer(_) => "layer: ",
        _ => "",
    };
    lines.push(
        owner.to_string()
            + &match &node.kind {
                NodeKind::Input { stem, .. } => format!("input {}{}", stem.name(), d(node.width)),
                NodeKind::Block(b) => format!("block {}{}", b.def, d(node.width)),
                NodeKind::Norm(n) => match n.kind {
                    NormKind::Layernorm { .. } => format!("layernorm{}", d(node.width)),
                    NormKind::Rmsnorm => format!("rmsnorm{}", d(node.width)),
                },
                NodeKind::Merge { stems } => {
                    format!("merge [{}]{}", stems.join(", "), d(node.width))
                }
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
                NodeKind::Loop { steps, inject, .. } => format!(
                    "loop{}\n{}, inject {}",
                    d(node.width),
                    steps_text(steps),
                    inject_text(inject)
                ),
                _ => format!("{kind}{}", d(node.width)),
            },
    );
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
            format!("mask_tokens {min_rate:?}..{max_rate:?}")
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
