//! SVG for DOT: layout-rs lays the graph out, and `Canvas` draws it (layout-rs's own SVG
//! writer orders its CSS by a hash map, pads the picture and misplaces edge labels).

use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::{color::Color, geometry::Point, style::StyleAttr};
use layout::gv::parser::ast;
use std::collections::BTreeSet;
use std::fmt::Write;

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
