//! `ir_to_ast`: an IR document as the `.arch` syntax tree that says the same, every value
//! carrying the span of its text in the YAML. Checked like any file, it reports the
//! IR's mistakes with the checker's own codes, located in the document; rebuilt into a
//! graph, it must give the document back (`compare.rs`), or the document says something
//! its layers do not.
//!
//! Each block node becomes a definition of its own whose body holds that node's values
//! (so a wrong value is reported at its node, not at the first block of its kind), named
//! `DEF#INDEX`: a name no file can write, turned back into `DEF` once the model is
//! resolved ([`block_def_name`]).

mod lints;
mod ports;
mod syntax;

use super::read::{Seg, Spanned};
use super::Ir;
use crate::ast::*;
use crate::diag::Error;
use crate::graph::{EdgeKind, NodeKind, Owner};
use crate::model::*;
use crate::span::Span;
use lints::{attach_item_lints, lint_attr};
use syntax::*;

/// Per node, the nodes that share its owner, in document order.
fn chains(ir: &Ir) -> Vec<std::rc::Rc<[usize]>> {
    let mut by_owner: std::collections::HashMap<&Owner, Vec<usize>> = Default::default();
    for (i, n) in ir.nodes.iter().enumerate() {
        by_owner.entry(&n.owner).or_default().push(i);
    }
    let shared: std::collections::HashMap<&Owner, std::rc::Rc<[usize]>> = by_owner
        .into_iter()
        .map(|(o, v)| (o, std::rc::Rc::from(v)))
        .collect();
    ir.nodes.iter().map(|n| shared[&n.owner].clone()).collect()
}

/// The `block` definition a decompiled definition name stands for: `llama#3` is `llama`.
pub fn block_def_name(name: &str) -> &str {
    name.split_once('#').map_or(name, |(d, _)| d)
}

struct Gen<'a> {
    ir: &'a Ir,
    doc: &'a Spanned,
    errors: Vec<Error>,
    items: Vec<Item>,
    /// Per node: the nodes of its item, in document order (one shared list per item).
    chains: Vec<std::rc::Rc<[usize]>>,
    /// Per node: the indices of the edges out of it, and into it.
    out_edges: Vec<Vec<usize>>,
    into: Vec<Vec<usize>>,
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The IR as a syntax tree, or the structural mistakes that keep it from being one
/// (a value no literal can hold, an edge no port can name).
pub fn ir_to_ast(ir: &Ir, doc: &Spanned) -> (Ast, Vec<Error>) {
    let mut g = Gen {
        ir,
        doc,
        errors: Vec::new(),
        items: Vec::new(),
        chains: chains(ir),
        out_edges: vec![Vec::new(); ir.nodes.len()],
        into: vec![Vec::new(); ir.nodes.len()],
    };
    for (j, e) in ir.edges.iter().enumerate() {
        if let Some(out) = g.out_edges.get_mut(e.from) {
            out.push(j);
        }
        if let Some(into) = g.into.get_mut(e.to) {
            into.push(j);
        }
    }
    g.model();
    let inner_attrs = g.lints();
    let mut ast = Ast {
        inner_attrs,
        items: g.items,
    };
    attach_item_lints(ir, doc, &mut ast);
    (ast, g.errors)
}

impl Gen<'_> {
    fn span(&self, path: &[Seg]) -> Span {
        self.doc.span_at(path)
    }

    /// The span of node `i`'s field at `rest` (under `kind` for the layer's own values).
    fn at(&self, i: usize, rest: &[&str]) -> Span {
        let mut path = vec![key("nodes"), Seg::Index(i)];
        path.extend(rest.iter().map(|k| key(k)));
        self.span(&path)
    }

    fn int(&mut self, v: u64, span: Span) -> Expr {
        match i64::try_from(v) {
            Ok(i) => expr(ExprKind::Int(i), span),
            Err(_) => {
                self.errors.push(Error::NumberTooLarge {
                    at: span,
                    digits: v.to_string().len(),
                });
                expr(ExprKind::Error, span)
            }
        }
    }

    fn model(&mut self) {
        let ir = self.ir;
        let span = self.span(&[key("model")]);
        self.items.push(item(
            ItemKind::Model {
                name: ident(&ir.model, span),
            },
            span,
        ));
        for (i, p) in ir.params.iter().enumerate() {
            let path = [key("params"), Seg::Index(i)];
            let vspan = self.span(&[path[0].clone(), path[1].clone(), key("value")]);
            let value = match p.value {
                crate::eval::Value::Int(v) => expr(ExprKind::Int(v), vspan),
                crate::eval::Value::Float(f) => expr(ExprKind::Float(f), vspan),
                crate::eval::Value::Bool(b) => name_expr(if b { "true" } else { "false" }, vspan),
            };
            let name_span = self.span(&[path[0].clone(), path[1].clone(), key("name")]);
            self.items.push(item(
                ItemKind::Param {
                    name: ident(&p.name, name_span),
                    value,
                },
                self.span(&path),
            ));
        }
        // Items in the order the graph builder adds their nodes (stems, the trunk, heads,
        // layers, aliases, loops), each kind in the order of its first node.
        let mut owners: Vec<(usize, &Owner)> = Vec::new();
        for (i, n) in ir.nodes.iter().enumerate() {
            if self.chains[i][0] == i {
                owners.push((i, &n.owner));
            }
        }
        let rank = |o: &Owner| match o {
            Owner::Stem(_) => 0,
            Owner::Trunk(_) => 1,
            Owner::Head(_) => 2,
            Owner::Layer(_) => 3,
            Owner::Alias(_) => 4,
            Owner::Loop(_) => 5,
        };
        owners.sort_by_key(|(i, o)| (rank(o), *i));
        for (first, owner) in owners {
            let nodes = self.chains[first].clone();
            let span = self.at(first, &[]);
            let name = ident(owner.name(), self.at(first, &["owner", "name"]));
            let kind = match owner {
                Owner::Stem(_) => self.stem(name, &nodes),
                Owner::Trunk(_) => Some(self.trunk(name, &nodes)),
                Owner::Head(_) => self.head(name, &nodes),
                Owner::Layer(_) => self.layer(name, &nodes),
                Owner::Alias(_) => self.alias(name, &nodes),
                Owner::Loop(_) => self.looped(name, &nodes),
            };
            if let Some(kind) = kind {
                self.items.push(item(kind, span));
            }
        }
        for (i, m) in ir.masks.iter().enumerate() {
            let path = [key("masks"), Seg::Index(i)];
            let mspan = self.span(&[path[0].clone(), path[1].clone(), key("modality")]);
            let kind = self.region(
                &m.region,
                &[path[0].clone(), path[1].clone(), key("region")],
            );
            self.items.push(item(
                ItemKind::Mask {
                    modality: ident(&m.modality, mspan),
                    kind,
                },
                self.span(&path),
            ));
        }
    }

    /// File-level lint attributes (item-level ones go on their items).
    fn lints(&self) -> Vec<Attr> {
        let mut out = Vec::new();
        for (i, l) in self.ir.lints.iter().enumerate() {
            if l.item.is_none() {
                out.push(self.attr(i));
            }
        }
        out
    }

    fn attr(&self, i: usize) -> Attr {
        lint_attr(self.ir, self.doc, i)
    }

    fn blocks(&mut self, nodes: &[usize]) -> Option<Prop> {
        let list: Vec<Expr> = nodes
            .iter()
            .copied()
            .filter(|&i| matches!(self.ir.nodes[i].kind, NodeKind::Block(_)))
            .map(|i| self.block(i))
            .collect();
        let span = list.first()?.span.to(list[list.len() - 1].span);
        Some(prop("blocks", expr(ExprKind::List(list), span)))
    }

    /// A block node: a definition of its own (`DEF#i`) holding its values, and the name
    /// that instantiates it.
    fn block(&mut self, i: usize) -> Expr {
        let NodeKind::Block(b) = &self.ir.nodes[i].kind else {
            return expr(ExprKind::Error, self.at(i, &[]));
        };
        let b = b.clone();
        let f = |g: &Self, rest: &[&str]| {
            let mut p = vec!["kind"];
            p.extend_from_slice(rest);
            g.at(i, &p)
        };
        let mut props = vec![prop("width", self.int(b.width, f(self, &["width"])))];
        props.push(prop("norm", self.norm(&b.norm, &|g, k| f(g, &["norm", k]))));
        let placement = match b.placement {
            Placement::Pre => "pre",
            Placement::Post => "post",
            Placement::ResPost => "res_post",
            Placement::Sandwich => "sandwich",
        };
        props.push(prop(
            "placement",
            name_expr(placement, f(self, &["placement"])),
        ));
        let a = &b.attention;
        let positions = match a.positions {
            Positions::Rope { theta } => call(
                "rope",
                f(self, &["attention", "positions"]),
                vec![(
                    "theta",
                    float(theta, f(self, &["attention", "positions", "theta"])),
                )],
            ),
            Positions::None => name_expr("none", f(self, &["attention", "positions"])),
        };
        let attention = call(
            "attention",
            f(self, &["attention"]),
            vec![
                ("heads", self.int(a.heads, f(self, &["attention", "heads"]))),
                (
                    "kv_heads",
                    self.int(a.kv_heads, f(self, &["attention", "kv_heads"])),
                ),
                (
                    "head_dim",
                    self.int(a.head_dim, f(self, &["attention", "head_dim"])),
                ),
                ("positions", positions),
                (
                    "qk_norm",
                    boolean(a.qk_norm, f(self, &["attention", "qk_norm"])),
                ),
                ("bias", boolean(a.bias, f(self, &["attention", "bias"]))),
            ],
        );
        props.push(prop("attention", attention));
        let mlp_kind = match b.mlp.kind {
            MlpKind::Gelu => "gelu",
            MlpKind::GeluTanh => "gelu_tanh",
            MlpKind::Swiglu => "swiglu",
            MlpKind::Relu => "relu",
        };
        let mlp = call(
            mlp_kind,
            f(self, &["mlp"]),
            vec![
                (
                    "hidden",
                    self.int(b.mlp.hidden, f(self, &["mlp", "hidden"])),
                ),
                ("bias", boolean(b.mlp.bias, f(self, &["mlp", "bias"]))),
            ],
        );
        props.push(prop("mlp", mlp));
        props.push(prop("dropout", float(b.dropout, f(self, &["dropout"]))));
        props.push(prop("frozen", boolean(b.frozen, f(self, &["frozen"]))));
        let def_span = f(self, &["def"]);
        let name = format!("{}#{i}", b.def);
        self.items.push(item(
            ItemKind::Block {
                name: ident(&name, def_span),
                params: Vec::new(),
                body: Body {
                    props,
                    span: self.at(i, &["kind"]),
                },
            },
            self.at(i, &["kind"]),
        ));
        name_expr(&name, self.at(i, &["path"]))
    }

    fn norm(&mut self, n: &Norm, at: &dyn Fn(&Self, &str) -> Span) -> Expr {
        let eps = float(n.eps, at(self, "eps"));
        match n.kind {
            NormKind::Layernorm { bias } => call(
                "layernorm",
                at(self, "kind"),
                vec![("bias", boolean(bias, at(self, "bias"))), ("eps", eps)],
            ),
            NormKind::Rmsnorm => call("rmsnorm", at(self, "kind"), vec![("eps", eps)]),
        }
    }

    fn mlp_stack(&mut self, m: &MlpStack, at: &dyn Fn(&Self, &str) -> Span, whole: Span) -> Expr {
        let act = act_name(m.act);
        call(
            "mlp",
            whole,
            vec![
                ("layers", self.int(m.layers, at(self, "layers"))),
                ("hidden", self.int(m.hidden, at(self, "hidden"))),
                ("out", self.int(m.out, at(self, "out"))),
                ("act", name_expr(act, at(self, "act"))),
                ("bias", boolean(m.bias, at(self, "bias"))),
                ("frozen", boolean(m.frozen, at(self, "frozen"))),
            ],
        )
    }

    fn stem(&mut self, name: Ident, nodes: &[usize]) -> Option<ItemKind> {
        let ir = self.ir;
        let mut props = Vec::new();
        let mut kind = None;
        for &i in nodes {
            let k = |g: &Self, rest: &[&str]| {
                let mut p = vec!["kind"];
                p.extend_from_slice(rest);
                g.at(i, &p)
            };
            match &ir.nodes[i].kind {
                NodeKind::Input { stem, .. } => {
                    let s = |g: &Self, f: &str| k(g, &["stem", f]);
                    kind = Some(match stem {
                        StemKind::Tokens { vocab, max_len } => Call {
                            name: ident("tokens", s(self, "kind")),
                            args: vec![
                                arg("vocab", self.int(*vocab, s(self, "vocab"))),
                                arg("max_len", self.int(*max_len, s(self, "max_len"))),
                            ],
                            span: k(self, &["stem"]),
                        },
                        StemKind::Features { dim, rows, frozen } => Call {
                            name: ident("features", s(self, "kind")),
                            args: vec![
                                arg("dim", self.int(*dim, s(self, "dim"))),
                                arg("rows", self.int(*rows, s(self, "rows"))),
                                arg("frozen", boolean(*frozen, s(self, "frozen"))),
                            ],
                            span: k(self, &["stem"]),
                        },
                        StemKind::Codes { codebook, rows } => Call {
                            name: ident("codes", s(self, "kind")),
                            args: vec![
                                arg("codebook", self.int(*codebook, s(self, "codebook"))),
                                arg("rows", self.int(*rows, s(self, "rows"))),
                            ],
                            span: k(self, &["stem"]),
                        },
                    });
                }
                NodeKind::Embedding(e) => {
                    let which = if e.next_scale {
                        "next_scale"
                    } else {
                        "embedding"
                    };
                    let v = call(
                        which,
                        k(self, &["op"]),
                        vec![
                            ("dim", self.int(e.dim, k(self, &["dim"]))),
                            ("frozen", boolean(e.frozen, k(self, &["frozen"]))),
                        ],
                    );
                    props.push(prop("embed", v));
                }
                NodeKind::Positions { max_len, .. } => {
                    let v = call(
                        "learned",
                        k(self, &["op"]),
                        vec![("max_len", self.int(*max_len, k(self, &["max_len"])))],
                    );
                    props.push(prop("positions", v));
                }
                NodeKind::Adapter { mlp, .. } => {
                    let v = self.mlp_stack(mlp, &|g, f| k(g, &["mlp", f]), k(self, &["mlp"]));
                    props.push(prop("adapter", v));
                }
                NodeKind::Block(_) => {}
                _ => self.misplaced(i, "stem"),
            }
        }
        props.extend(self.blocks(nodes));
        let Some(kind) = kind else {
            self.errors.push(Error::IrInconsistent {
                at: self.at(nodes[0], &["owner"]),
                field: format!("`nodes[{}].owner`", nodes[0]),
                reason: format!(
                    "puts `{}` in stem `{}`, which has no `input` node: a stem is where data comes in",
                    self.ir.nodes[nodes[0]].path, name.name
                ),
            });
            return None;
        };
        Some(ItemKind::Stem {
            name,
            kind,
            body: Some(body(props, self.at(nodes[0], &[]))),
        })
    }

    fn trunk(&mut self, name: Ident, nodes: &[usize]) -> ItemKind {
        let ir = self.ir;
        let mut props = Vec::new();
        for &i in nodes {
            match &ir.nodes[i].kind {
                NodeKind::Merge { stems } => {
                    let list = stems
                        .iter()
                        .enumerate()
                        .map(|(j, s)| {
                            let sp = self.span(&[
                                key("nodes"),
                                Seg::Index(i),
                                key("kind"),
                                key("stems"),
                                Seg::Index(j),
                            ]);
                            path_expr(s, sp)
                        })
                        .collect();
                    props.push(prop(
                        "from",
                        expr(ExprKind::List(list), self.at(i, &["kind", "stems"])),
                    ));
                }
                NodeKind::Norm(n) => {
                    let v = self.norm(n, &|g, f| g.at(i, &["kind", f]));
                    props.push(prop("norm", v));
                }
                NodeKind::Block(_) => {}
                _ => self.misplaced(i, "trunk"),
            }
        }
        props.extend(self.blocks(nodes));
        let span = self.at(nodes[0], &[]);
        ItemKind::Trunk {
            name: (name.name != "trunk").then_some(name),
            body: body(props, span),
        }
    }

    fn head(&mut self, name: Ident, nodes: &[usize]) -> Option<ItemKind> {
        let ir = self.ir;
        let mut props = Vec::new();
        if let Some(from) = self.from(nodes) {
            props.push(prop("from", from));
        }
        props.extend(self.blocks(nodes));
        let mut objective = None;
        let mut projection = None;
        for &i in nodes {
            match &ir.nodes[i].kind {
                NodeKind::Norm(n) => {
                    let v = self.norm(n, &|g, f| g.at(i, &["kind", f]));
                    props.push(prop("norm", v));
                }
                NodeKind::Projection {
                    out, projection: p, ..
                } => {
                    let k = |g: &Self, f: &str| g.at(i, &["kind", "projection", f]);
                    let v = match p {
                        Projection::Linear { bias } => call(
                            "linear",
                            k(self, "kind"),
                            vec![("bias", boolean(*bias, k(self, "bias")))],
                        ),
                        Projection::Tied { stem } => call(
                            "tied",
                            k(self, "kind"),
                            vec![("to", path_expr(&format!("{stem}.embed"), k(self, "stem")))],
                        ),
                        Projection::Mlp { hidden, act } => call(
                            "mlp",
                            k(self, "kind"),
                            vec![
                                ("hidden", self.int(*hidden, k(self, "hidden"))),
                                ("act", name_expr(act_name(*act), k(self, "act"))),
                            ],
                        ),
                        Projection::None => name_expr("none", k(self, "kind")),
                    };
                    props.push(prop("projection", v));
                    projection = Some((i, *out));
                }
                NodeKind::Objective {
                    target,
                    objective: o,
                } => {
                    objective = Some((i, target.clone(), o.clone()));
                }
                NodeKind::Block(_) => {}
                _ => self.misplaced(i, "head"),
            }
        }
        if projection.is_none() {
            props.push(prop(
                "projection",
                name_expr("none", self.at(nodes[0], &[])),
            ));
        }
        let Some((oi, target, o)) = objective else {
            self.errors.push(Error::IrInconsistent {
                at: self.at(nodes[0], &["owner"]),
                field: format!("`nodes[{}].owner`", nodes[0]),
                reason: format!(
                    "puts `{}` in head `{}`, which has no `objective` node: what a head is trained for says what kind of head it is",
                    self.ir.nodes[nodes[0]].path, name.name
                ),
            });
            return None;
        };
        let k = |g: &Self, f: &str| g.at(oi, &["kind", "objective", f]);
        let mut args = Vec::new();
        let (kind_name, oname) = match &o.kind {
            ObjectiveKind::NextToken => ("text", "next_token"),
            ObjectiveKind::VqCe => ("codes", "vq_ce"),
            ObjectiveKind::MaskedRegression { shift, loss } => {
                args.push(("shift", self.int(*shift, k(self, "shift"))));
                let l = match loss {
                    RegressionLoss::Mse => "mse",
                    RegressionLoss::Cosine => "cosine",
                };
                args.push(("loss", name_expr(l, k(self, "loss"))));
                ("features", "masked_regression")
            }
            ObjectiveKind::Diffusion {
                layers,
                width,
                steps,
            } => {
                args.push(("layers", self.int(*layers, k(self, "layers"))));
                args.push(("width", self.int(*width, k(self, "width"))));
                args.push(("steps", self.int(*steps, k(self, "steps"))));
                ("diffusion", "diffusion")
            }
            ObjectiveKind::Classify => ("classifier", "classify"),
        };
        args.push(("weight", float(o.weight, k(self, "weight"))));
        args.push(("z_loss", float(o.z_loss, k(self, "z_loss"))));
        props.push(prop("objective", call(oname, k(self, "kind"), args)));
        let kspan = self.at(oi, &["kind", "objective", "kind"]);
        let mut kargs = Vec::new();
        if kind_name == "classifier" {
            let classes = projection.map_or(1, |(_, out)| out.max(1));
            let at = projection.map_or(kspan, |(i, _)| self.at(i, &["kind", "out"]));
            kargs.push(arg("classes", self.int(classes, at)));
        } else if let Some(t) = &target {
            kargs.push(arg(
                "target",
                name_expr(t, self.at(oi, &["kind", "target"])),
            ));
        }
        Some(ItemKind::Head {
            name,
            kind: Call {
                name: ident(kind_name, kspan),
                args: kargs,
                span: kspan,
            },
            body: Some(body(props, self.at(nodes[0], &[]))),
        })
    }

    fn layer(&mut self, name: Ident, nodes: &[usize]) -> Option<ItemKind> {
        let i = self.single(nodes, "layer")?;
        let k = |g: &Self, f: &str| g.at(i, &["kind", f]);
        let kind = match &self.ir.nodes[i].kind {
            NodeKind::Linear { out, bias, .. } => Call {
                name: ident("linear", k(self, "op")),
                args: vec![
                    arg("out", self.int(*out, k(self, "out"))),
                    arg("bias", boolean(*bias, k(self, "bias"))),
                ],
                span: k(self, "op"),
            },
            NodeKind::Norm(n) => {
                let inner = self.norm(n, &|g, f| g.at(i, &["kind", f]));
                Call {
                    name: ident("norm", k(self, "op")),
                    args: vec![Arg {
                        name: None,
                        value: inner,
                    }],
                    span: k(self, "op"),
                }
            }
            NodeKind::Mlp { mlp, .. } => {
                let e = self.mlp_stack(mlp, &|g, f| g.at(i, &["kind", "mlp", f]), k(self, "op"));
                match e.kind {
                    ExprKind::Call(c) => c,
                    _ => return None,
                }
            }
            NodeKind::Block(_) => match self.block(i).kind {
                ExprKind::Path(p) => Call {
                    name: p.segments[0].clone(),
                    args: Vec::new(),
                    span: p.span,
                },
                _ => return None,
            },
            _ => {
                self.misplaced(i, "layer");
                return None;
            }
        };
        let mut props = Vec::new();
        if let Some(from) = self.from(nodes) {
            props.push(prop("from", from));
        }
        Some(ItemKind::Layer {
            name,
            kind,
            body: Some(body(props, self.at(i, &[]))),
        })
    }

    fn alias(&mut self, name: Ident, nodes: &[usize]) -> Option<ItemKind> {
        let i = self.single(nodes, "alias")?;
        if !matches!(self.ir.nodes[i].kind, NodeKind::Alias) {
            self.misplaced(i, "alias");
            return None;
        }
        let target = match self.from(nodes)?.kind {
            ExprKind::Path(p) => p,
            _ => return None,
        };
        Some(ItemKind::Alias { name, target })
    }

    fn looped(&mut self, name: Ident, nodes: &[usize]) -> Option<ItemKind> {
        let i = self.single(nodes, "loop")?;
        let NodeKind::Loop {
            steps,
            inject,
            shift,
            ..
        } = &self.ir.nodes[i].kind
        else {
            self.misplaced(i, "loop");
            return None;
        };
        let k = |g: &Self, f: &str| g.at(i, &["kind", "steps", f]);
        let steps = match steps {
            Steps::Fixed { n } => call(
                "fixed",
                k(self, "kind"),
                vec![("n", self.int(*n, k(self, "n")))],
            ),
            Steps::Sampled { mean, backprop } => call(
                "sampled",
                k(self, "kind"),
                vec![
                    ("mean", self.int(*mean, k(self, "mean"))),
                    ("backprop", self.int(*backprop, k(self, "backprop"))),
                ],
            ),
            Steps::Entropy {
                head,
                threshold,
                max,
            } => call(
                "entropy",
                k(self, "kind"),
                vec![
                    ("head", name_expr(head, k(self, "head"))),
                    ("threshold", float(*threshold, k(self, "threshold"))),
                    ("max", self.int(*max, k(self, "max"))),
                ],
            ),
        };
        let inject = match inject {
            Inject::Add => "add",
            Inject::Replace => "replace",
            Inject::ConcatLinear => "concat_linear",
        };
        let props = vec![
            prop("steps", steps),
            prop("inject", name_expr(inject, self.at(i, &["kind", "inject"]))),
            prop("shift", self.int(*shift, self.at(i, &["kind", "shift"]))),
        ];
        let from = match self.from(nodes)?.kind {
            ExprKind::Path(p) => p,
            _ => return None,
        };
        let (edge, target) = self.out_edges[i]
            .iter()
            .map(|&j| (j, &self.ir.edges[j]))
            .find(|(_, e)| matches!(e.kind, EdgeKind::Loop { .. }))
            .map(|(j, e)| (j, e.to))
            .or_else(|| {
                self.errors.push(Error::IrInconsistent {
                    at: self.at(i, &[]),
                    field: "`edges`".into(),
                    reason: format!(
                        "lack a loop edge from loop `{}` back to its target",
                        name.name
                    ),
                });
                None
            })?;
        let to = self.port(target, self.span(&[key("edges"), Seg::Index(edge)]))?;
        let to = match to.kind {
            ExprKind::Path(p) => p,
            _ => return None,
        };
        Some(ItemKind::Loop {
            name,
            from,
            to,
            body: Some(body(props, self.at(i, &[]))),
        })
    }

    fn region(&mut self, r: &Region, at: &[Seg]) -> Call {
        let sp = |g: &Self, f: &str| {
            let mut p = at.to_vec();
            p.push(key(f));
            g.span(&p)
        };
        let kind = sp(self, "kind");
        let (name, args) = match r {
            Region::Causal => ("causal", Vec::new()),
            Region::Bidirectional => ("bidirectional", Vec::new()),
            Region::Prefix { len } => ("prefix", vec![arg("len", self.int(*len, sp(self, "len")))]),
            Region::MaskTokens { min_rate, max_rate } => {
                let lo = float(*min_rate, sp(self, "min_rate"));
                let hi = float(*max_rate, sp(self, "max_rate"));
                let span = lo.span.to(hi.span);
                (
                    "mask_tokens",
                    vec![arg(
                        "rate",
                        expr(ExprKind::Range(Box::new(lo), Box::new(hi)), span),
                    )],
                )
            }
            Region::Scales { sides } => {
                let mut args = Vec::new();
                for (j, s) in sides.iter().enumerate() {
                    let mut p = at.to_vec();
                    p.extend([key("sides"), Seg::Index(j)]);
                    let e = self.int(*s, self.span(&p));
                    args.push(Arg {
                        name: None,
                        value: e,
                    });
                }
                ("scales", args)
            }
            Region::Mntp { causal } => (
                "mntp",
                vec![arg("causal", float(*causal, sp(self, "causal")))],
            ),
        };
        Call {
            name: ident(name, kind),
            args,
            span: self.span(at),
        }
    }
}
