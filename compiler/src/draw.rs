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

use crate::graph::{ArchGraph, EdgeKind, Node, NodeKind, Owner};
use crate::model::{Inject, NormKind, Projection, Region, Steps};
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::{color::Color, geometry::Point, style::StyleAttr};
use layout::gv::parser::ast;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use std::collections::BTreeSet;
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
    let mut stems: Vec<&str> = Vec::new();
    for n in g.graph.node_indices() {
        if let Owner::Stem(s) = &g.graph[n].owner {
            if !stems.contains(&s.as_str()) {
                stems.push(s);
            }
        }
    }
    let colour = |n: NodeIndex| match g.graph[n].kind {
        NodeKind::Loop { .. } => LOOP,
        _ => modality(g, &g.graph[n])
            .and_then(|m| stems.iter().position(|s| *s == m))
            .map_or(NEUTRAL, |i| PALETTE[i % PALETTE.len()]),
    };
    let name = quote(&g.name);
    let mut out = format!(
        "digraph {name} {{\n  rankdir=TB;\n  label={name};\n  labelloc=t;\n  \
         fontname=\"Helvetica\";\n  node [shape=box, style=\"rounded,filled\", \
         fontname=\"Helvetica\", fontsize=14];\n  edge [fontname=\"Helvetica\", fontsize=12];\n"
    );
    // One cluster per stem, trunk and head, in the order their nodes come (file order).
    let mut groups: Vec<(Option<&Owner>, Vec<NodeIndex>)> = Vec::new();
    for n in g.graph.node_indices() {
        let owner = &g.graph[n].owner;
        let key =
            matches!(owner, Owner::Stem(_) | Owner::Trunk(_) | Owner::Head(_)).then_some(owner);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(n),
            None => groups.push((key, vec![n])),
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
            let ((fill, border), node) = (colour(n), &g.graph[n]);
            let regions = mask_regions(g, node);
            let label = quote(&label(node, &regions));
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
        let _ = writeln!(
            out,
            "  n{} -> n{} [{attrs}];",
            e.source().index(),
            e.target().index()
        );
    }
    out.push_str("}\n");
    out
}

/// Lays out DOT and renders SVG with the layout-rs crate (pure Rust, no Graphviz).
///
/// layout-rs panics on some input (an empty graph, a broken record label); the panic
/// is caught and returned as `Err`, though the panic hook still prints it to stderr.
pub fn dot_to_svg(dot: &str) -> Result<String, String> {
    use layout::{gv::DotParser, gv::GraphBuilder, std_shapes::shapes::ShapeKind};
    let mut parsed = DotParser::new(dot)
        .process()
        .map_err(|e| format!("DOT does not parse: {e}"))?;
    adapt(&mut parsed);
    std::panic::catch_unwind(move || {
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&parsed);
        let mut graph = builder.get();
        if graph.num_nodes() == 0 {
            return Err("the graph has no nodes".to_string());
        }
        // layout-rs gives text one em per character: fit boxes to Helvetica instead.
        for h in graph.iter_nodes().collect::<Vec<_>>() {
            let e = graph.element_mut(h);
            if let ShapeKind::Box(text) = &e.shape {
                let (chars, lines) = text_size(text);
                let fs = e.look.font_size as f64;
                e.pos
                    .set_size(Point::new(chars * fs * 0.6 + 20., lines * fs * 1.2 + 12.));
            }
        }
        let mut canvas = Canvas::default();
        graph.do_it(false, false, false, &mut canvas);
        Ok(canvas.finish())
    })
    .unwrap_or_else(|p| {
        let why = p.downcast_ref::<&str>().map(|s| s.to_string());
        let why = why
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("layout failed: {why}"))
    })
}

/// Graphviz attributes onto layout-rs's: no dotted edges there, so `dashed`; a node's
/// border width is its `width` there (a size in Graphviz), so `penwidth` goes there.
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

/// The widest line in characters, and the number of lines.
fn text_size(text: &str) -> (f64, f64) {
    let chars = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    (chars as f64, text.lines().count().max(1) as f64)
}

/// An SVG canvas for layout-rs. Unlike its `SVGWriter`, the bytes do not depend on
/// hash order, the picture is sized to what is drawn, text is sans-serif, a thick
/// border (a mask region) is dashed, and edge labels sit beside their edge in its
/// colour, drawn last so that no line crosses them.
#[derive(Default)]
struct Canvas {
    body: String,
    defs: BTreeSet<String>,
    size: (f64, f64),
    clips: usize,
    /// The centre of the last shape drawn: text centred elsewhere is an edge label.
    shape_at: Option<Point>,
    /// Edge labels: the point their edge runs through, text, font size, colour.
    labels: Vec<(Point, String, f64, String)>,
}

fn web(c: Color) -> String {
    c.to_web_color()[..7].to_string() // #rrggbbaa → #rrggbb
}

/// Fill (or none) and stroke.
fn colours(look: &StyleAttr) -> (String, String) {
    (
        look.fill_color.map_or("none".into(), web),
        web(look.line_color),
    )
}

fn near(a: Point, b: Point) -> bool {
    (a.x - b.x).abs() < 0.5 && (a.y - b.y).abs() < 0.5
}

impl Canvas {
    fn grow(&mut self, x: f64, y: f64) {
        self.size = (self.size.0.max(x), self.size.1.max(y));
    }

    fn text(&mut self, x: f64, y: f64, text: &str, fs: f64, fill: &str, anchor: &str) {
        let (chars, lines) = text_size(text);
        let top = y - lines * fs * 0.6;
        let right = if anchor == "end" {
            x
        } else {
            x + chars * fs * 0.3
        };
        self.grow(right, top + lines * fs * 1.2);
        let _ = write!(
            self.body,
            "<text x='{x}' y='{top}' font-size='{fs}' fill='{fill}' text-anchor='{anchor}' \
             paint-order='stroke' stroke='white' stroke-width='3'>"
        );
        for (i, l) in text.lines().enumerate() {
            let dy = fs * if i == 0 { 0.95 } else { 1.2 };
            let _ = write!(self.body, "<tspan x='{x}' dy='{dy}'>{}</tspan>", xml(l));
        }
        self.body.push_str("</text>\n");
    }

    fn finish(mut self) -> String {
        for (at, text, fs, colour) in std::mem::take(&mut self.labels) {
            self.text(at.x - 6., at.y, &text, fs, &colour, "end");
        }
        let (w, h) = (self.size.0.ceil() + 10., self.size.1.ceil() + 10.);
        let mut s = format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' \
             viewBox='0 0 {w} {h}' font-family='Helvetica, Arial, sans-serif'>\n<defs>\n"
        );
        for d in &self.defs {
            let _ = writeln!(s, "{d}");
        }
        s.push_str("</defs>\n<rect width='100%' height='100%' fill='white'/>\n");
        s + &self.body + "</svg>\n"
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
        let (Point { x, y }, Point { x: w, y: h }) = (xy, size);
        self.grow(x + w, y + h);
        self.shape_at = Some(Point::new(x + w / 2., y + h / 2.));
        let ((fill, stroke), sw, rx) = (colours(look), look.line_width, look.rounded.max(6));
        let dash = if sw >= 2 {
            " stroke-dasharray='7,3'"
        } else {
            ""
        };
        let clip = clip.map_or(String::new(), |c| format!(" clip-path='url(#c{c})'"));
        let _ = writeln!(
            self.body,
            "<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='{rx}' fill='{fill}' \
             stroke='{stroke}' stroke-width='{sw}'{dash}{clip}/>"
        );
    }

    fn draw_line(&mut self, a: Point, b: Point, look: &StyleAttr, _: Option<String>) {
        self.grow(a.x.max(b.x), a.y.max(b.y));
        let (stroke, sw) = (web(look.line_color), look.line_width);
        let (Point { x, y }, Point { x: x2, y: y2 }) = (a, b);
        let _ = writeln!(
            self.body,
            "<line x1='{x}' y1='{y}' x2='{x2}' y2='{y2}' stroke='{stroke}' stroke-width='{sw}'/>"
        );
    }

    fn draw_circle(&mut self, xy: Point, size: Point, look: &StyleAttr, _: Option<String>) {
        let (Point { x, y }, rx, ry) = (xy, size.x / 2., size.y / 2.);
        self.grow(x + rx, y + ry);
        self.shape_at = Some(xy);
        let (fill, stroke) = colours(look);
        let _ = writeln!(
            self.body,
            "<ellipse cx='{x}' cy='{y}' rx='{rx}' ry='{ry}' fill='{fill}' stroke='{stroke}'/>"
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        if self.shape_at.is_some_and(|c| near(c, xy)) {
            let fs = look.font_size.min(14) as f64;
            return self.text(xy.x, xy.y, text, fs, "#000000", "middle");
        }
        // A label connector: layout-rs made it one em per character (+10) wide and
        // runs the edge through the middle of its right-hand side.
        let right = xy.x + (text_size(text).0 * look.font_size as f64 + 10.) / 2.;
        let fs = look.font_size.min(12) as f64;
        self.labels.push((
            Point::new(right, xy.y),
            text.into(),
            fs,
            web(look.line_color),
        ));
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
        // (layout-rs moved every label onto a connector before drawing: `_text` is "".)
        let Some(((p, c), rest)) = path.split_first() else {
            return;
        };
        let colour = web(look.line_color);
        let mut d = format!("M {} {} C {} {}", p.x, p.y, c.x, c.y);
        for (i, (q, k)) in rest.iter().enumerate() {
            self.grow(q.x.max(k.x), q.y.max(k.y));
            // A label that layout-rs moved along its edge lost the edge's colour.
            for label in self.labels.iter_mut().filter(|l| near(l.0, *k)) {
                label.3 = colour.clone();
            }
            let (sep, Point { x: qx, y: qy }, Point { x: kx, y: ky }) =
                ([",", " S"][i.min(1)], q, k);
            let _ = write!(d, "{sep} {qx} {qy}, {kx} {ky}");
        }
        let id = format!("m{}", &colour[1..]);
        self.defs.insert(format!(
            "<marker id='{id}' markerWidth='10' markerHeight='7' refX='10' refY='3.5' \
             orient='auto-start-reverse'><polygon points='0 0, 10 3.5, 0 7' fill='{colour}'/>\
             </marker>"
        ));
        let url = |on, end| {
            if on {
                format!(" marker-{end}='url(#{id})'")
            } else {
                String::new()
            }
        };
        let (start, end, sw) = (url(head.0, "start"), url(head.1, "end"), look.line_width);
        let dash = if dashed {
            " stroke-dasharray='8,5'"
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            "<path d='{d}' fill='none' stroke='{colour}' stroke-width='{sw}'{dash}{start}{end}/>"
        );
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded: usize) -> ClipHandle {
        let (Point { x, y }, Point { x: w, y: h }, id) = (xy, size, self.clips);
        self.clips += 1;
        self.defs.insert(format!(
            "<clipPath id='c{id}'><rect x='{x}' y='{y}' width='{w}' height='{h}' \
             rx='{rounded}'/></clipPath>"
        ));
        id
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// The stem a node works for: its own, its head's target, else its rows' `S_<stem>`.
fn modality<'a>(g: &'a ArchGraph, node: &'a Node) -> Option<&'a str> {
    let target = match (&node.owner, &node.kind) {
        (Owner::Stem(s), _) => return Some(s),
        (Owner::Trunk(_), _) => return None,
        (
            _,
            NodeKind::Objective {
                target: Some(t), ..
            },
        ) => Some(t.as_str()),
        (Owner::Head(h), _) => g
            .heads
            .iter()
            .find(|i| &i.name == h)
            .and_then(|i| i.target.as_deref()),
        _ => None,
    };
    target.or_else(|| node.rows.strip_prefix("S_"))
}

/// The mask regions of an input node's modality (none for other nodes).
fn mask_regions<'a>(g: &'a ArchGraph, node: &Node) -> Vec<&'a Region> {
    let NodeKind::Input { modality, .. } = &node.kind else {
        return Vec::new();
    };
    g.masks
        .iter()
        .filter(|m| &m.modality == modality)
        .map(|m| &m.region)
        .collect()
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
    fn every_node_drawn_deterministically() {
        for m in ["gpt2-tiny", "perfect-vlm", "latent-loop", "coconut-gpt2"] {
            let (g, dot) = load(m);
            assert_eq!(dot, graph_to_dot(&g), "{m}");
            let svg = dot_to_svg(&dot).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert!(
                svg.starts_with("<svg") && svg == dot_to_svg(&dot).unwrap(),
                "{m}"
            );
            for n in g.graph.node_indices() {
                let path = &g.graph[n].path;
                node(&dot, path);
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
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 4);
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
