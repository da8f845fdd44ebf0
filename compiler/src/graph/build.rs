//! Building the graph from the resolved model, then inferring and checking widths.

use super::*;
use crate::diag::Error;
use petgraph::algo::has_path_connecting;
use petgraph::visit::EdgeFiltered;

/// A port's value: a node, or whatever the item's `from:` resolves to.
#[derive(Clone, Debug)]
pub enum Ref {
    Node(NodeIndex),
    FromOf(usize),
}

pub struct ItemPorts {
    pub name: String,
    pub input: Ref,
    pub out: Ref,
    /// Per block: (its input, its node).
    pub blocks: Vec<(Ref, NodeIndex)>,
    /// The first node of the item, which its `from:` feeds.
    pub first: Option<NodeIndex>,
    pub from: Vec<PortRef>,
}

pub struct Items {
    pub list: Vec<ItemPorts>,
    /// Name -> position in `list` (filled once every item is in).
    pub index: std::collections::HashMap<String, usize>,
}

struct Builder {
    g: Graph,
}

impl Builder {
    fn node(
        &mut self,
        path: String,
        owner: &Owner,
        kind: NodeKind,
        rows: &str,
        span: Span,
    ) -> NodeIndex {
        self.g.add_node(Node {
            path,
            owner: owner.clone(),
            kind,
            width: 0,
            rows: rows.to_string(),
            span,
        })
    }
    fn data(&mut self, a: NodeIndex, b: NodeIndex, span: Option<Span>) {
        self.g.add_edge(
            a,
            b,
            Edge {
                kind: EdgeKind::Data {
                    rows: String::new(),
                    width: 0,
                },
                span,
            },
        );
    }
    /// Appends `kind` after `prev` (or as the chain's first node).
    fn chain(&mut self, prev: &mut Option<NodeIndex>, first: &mut Option<NodeIndex>, n: NodeIndex) {
        match *prev {
            Some(p) => self.data(p, n, None),
            None => *first = Some(n),
        }
        *prev = Some(n);
    }
    #[allow(clippy::too_many_arguments)] // the chain state is threaded through explicitly
    fn blocks(
        &mut self,
        owner: &Owner,
        prefix: &str,
        specs: &[BlockSpec],
        rows: &str,
        input: Ref,
        prev: &mut Option<NodeIndex>,
        first: &mut Option<NodeIndex>,
    ) -> Vec<(Ref, NodeIndex)> {
        let mut out = Vec::new();
        for (i, b) in specs.iter().enumerate() {
            let block_in = prev.map_or(input.clone(), Ref::Node);
            let n = self.node(
                format!("{prefix}.blocks.{i}"),
                owner,
                NodeKind::Block(b.clone()),
                rows,
                b.span,
            );
            self.chain(prev, first, n);
            out.push((block_in, n));
        }
        out
    }
}

pub fn model_to_graph(model: &Model) -> (ArchGraph, Vec<Error>) {
    let mut errors = Vec::new();
    let mut b = Builder {
        g: Graph::default(),
    };
    let mut items = Items {
        list: Vec::new(),
        index: Default::default(),
    };
    let mut embeddings: Vec<(String, NodeIndex)> = Vec::new();
    let mut heads = Vec::new();

    for s in &model.stems {
        let owner = Owner::Stem(s.name.clone());
        let rows = format!("S_{}", s.name);
        let n = b.node(
            format!("{}.input", s.name),
            &owner,
            NodeKind::Input {
                modality: s.name.clone(),
                stem: s.kind.clone(),
            },
            &rows,
            s.span,
        );
        b.g[n].width = if let StemKind::Features { dim, .. } = s.kind {
            dim
        } else {
            0
        };
        // The input is the chain's start; nothing feeds it, so it is not the item's `first`.
        let (mut prev, mut first) = (Some(n), None);
        let input = Ref::Node(n);
        if let Some((e, span)) = &s.embed {
            let n = b.node(
                format!("{}.embed", s.name),
                &owner,
                NodeKind::Embedding(e.clone()),
                &rows,
                *span,
            );
            b.chain(&mut prev, &mut first, n);
            embeddings.push((s.name.clone(), n));
        }
        if let Some((len, span)) = &s.positions {
            let dim = match (&s.embed, &s.kind) {
                (Some(e), _) => e.0.dim,
                (None, StemKind::Features { dim, .. }) => *dim,
                (None, _) => 0,
            };
            let n = b.node(
                format!("{}.positions", s.name),
                &owner,
                NodeKind::Positions { max_len: *len, dim },
                &rows,
                *span,
            );
            b.chain(&mut prev, &mut first, n);
        }
        if let Some((m, span)) = &s.adapter {
            let n = b.node(
                format!("{}.adapter", s.name),
                &owner,
                NodeKind::Adapter {
                    input: 0,
                    mlp: m.clone(),
                },
                &rows,
                *span,
            );
            b.chain(&mut prev, &mut first, n);
        }
        let blocks = b.blocks(
            &owner,
            &s.name,
            &s.blocks,
            &rows,
            input.clone(),
            &mut prev,
            &mut first,
        );
        let out = prev.map_or(input.clone(), Ref::Node);
        items.list.push(ItemPorts {
            name: s.name.clone(),
            input,
            out,
            blocks,
            first,
            from: Vec::new(),
        });
    }

    if let Some(t) = &model.trunk {
        let owner = Owner::Trunk(t.name.clone());
        let from = t.from.clone().unwrap_or_else(|| {
            model
                .stems
                .iter()
                .map(|s| PortRef {
                    path: vec![s.name.clone()],
                    span: t.span,
                })
                .collect()
        });
        let stems = from.iter().map(PortRef::text).collect();
        let merge = b.node(
            format!("{}.in", t.name),
            &owner,
            NodeKind::Merge { stems },
            "S",
            t.span,
        );
        let (mut prev, mut first) = (Some(merge), Some(merge));
        let blocks = b.blocks(
            &owner,
            &t.name,
            &t.blocks,
            "S",
            Ref::Node(merge),
            &mut prev,
            &mut first,
        );
        if let Some((n, span)) = &t.norm {
            let node = b.node(
                format!("{}.norm", t.name),
                &owner,
                NodeKind::Norm(n.clone()),
                "S",
                *span,
            );
            b.chain(&mut prev, &mut first, node);
        }
        let out = Ref::Node(prev.unwrap_or(merge));
        items.list.push(ItemPorts {
            name: t.name.clone(),
            input: Ref::Node(merge),
            out,
            blocks,
            first,
            from,
        });
    }

    for h in &model.heads {
        let owner = Owner::Head(h.name.clone());
        let rows = h
            .target
            .as_ref()
            .map_or("S".to_string(), |t| format!("S_{}", t.0));
        let idx = items.list.len();
        let (mut prev, mut first) = (None, None);
        let blocks = b.blocks(
            &owner,
            &h.name,
            &h.blocks,
            &rows,
            Ref::FromOf(idx),
            &mut prev,
            &mut first,
        );
        if let Some((n, span)) = &h.norm {
            let node = b.node(
                format!("{}.norm", h.name),
                &owner,
                NodeKind::Norm(n.clone()),
                &rows,
                *span,
            );
            b.chain(&mut prev, &mut first, node);
        }
        let latent_ref = prev.map_or(Ref::FromOf(idx), Ref::Node);
        let projection = match &h.projection.0 {
            Projection::None => None,
            p => {
                let node = b.node(
                    format!("{}.projection", h.name),
                    &owner,
                    NodeKind::Projection {
                        input: 0,
                        out: 0,
                        projection: p.clone(),
                    },
                    &rows,
                    h.projection.1,
                );
                b.chain(&mut prev, &mut first, node);
                if let Projection::Tied { stem } = p {
                    match embeddings.iter().find(|e| &e.0 == stem) {
                        Some((_, emb)) => {
                            b.g.add_edge(
                                node,
                                *emb,
                                Edge {
                                    kind: EdgeKind::Tied,
                                    span: Some(h.projection.1),
                                },
                            );
                        }
                        None => errors.push(Error::UnknownName {
                            at: h.projection.1,
                            name: format!("{stem}.embed"),
                            what: "stem embedding",
                            suggestion: crate::suggest::did_you_mean(
                                stem,
                                embeddings.iter().map(|e| e.0.as_str()),
                            )
                            .map(|s| format!("{s}.embed")),
                        }),
                    }
                }
                Some(node)
            }
        };
        if let Some(o) = &h.objective {
            let node = b.node(
                format!("{}.objective", h.name),
                &owner,
                NodeKind::Objective {
                    target: h.target.as_ref().map(|t| t.0.clone()),
                    objective: o.clone(),
                },
                &rows,
                o.span,
            );
            b.chain(&mut prev, &mut first, node);
        }
        heads.push((h, projection, latent_ref.clone(), idx));
        items.list.push(ItemPorts {
            name: h.name.clone(),
            input: Ref::FromOf(idx),
            out: latent_ref,
            blocks,
            first,
            from: vec![h.from.clone()],
        });
    }

    for l in &model.layers {
        let owner = Owner::Layer(l.name.clone());
        let kind = match &l.kind {
            LayerKind::Linear { out, bias } => NodeKind::Linear {
                input: 0,
                out: *out,
                bias: *bias,
            },
            LayerKind::Norm(n) => NodeKind::Norm(n.clone()),
            LayerKind::Mlp(m) => NodeKind::Mlp {
                input: 0,
                mlp: m.clone(),
            },
            LayerKind::Block(bs) => NodeKind::Block(bs.clone()),
        };
        let n = b.node(l.name.clone(), &owner, kind, "S", l.span);
        let idx = items.list.len();
        let blocks = if matches!(l.kind, LayerKind::Block(_)) {
            vec![(Ref::FromOf(idx), n)]
        } else {
            Vec::new()
        };
        items.list.push(ItemPorts {
            name: l.name.clone(),
            input: Ref::FromOf(idx),
            out: Ref::Node(n),
            blocks,
            first: Some(n),
            from: vec![l.from.clone()],
        });
    }
    for a in &model.aliases {
        let n = b.node(
            a.name.clone(),
            &Owner::Alias(a.name.clone()),
            NodeKind::Alias,
            "S",
            a.span,
        );
        let idx = items.list.len();
        items.list.push(ItemPorts {
            name: a.name.clone(),
            input: Ref::FromOf(idx),
            out: Ref::Node(n),
            blocks: Vec::new(),
            first: Some(n),
            from: vec![a.target.clone()],
        });
    }

    items.index = items
        .list
        .iter()
        .enumerate()
        .map(|(i, it)| (it.name.clone(), i))
        .collect();
    // Cross-item edges.
    for i in 0..items.list.len() {
        let (first, from) = (items.list[i].first, items.list[i].from.clone());
        for port in &from {
            let Some(src) = super::ports::resolve(&items, port, &mut errors) else {
                continue;
            };
            if let Some(dst) = first {
                b.data(src, dst, Some(port.span));
            }
        }
    }

    // Loops: a node reading the source, and a back edge to the target.
    let mut loop_targets = Vec::new();
    for l in &model.loops {
        let src = super::ports::resolve(&items, &l.from, &mut errors);
        let dst = super::ports::resolve(&items, &l.to, &mut errors);
        let (Some(src), Some(dst)) = (src, dst) else {
            continue;
        };
        let n = b.node(
            l.name.clone(),
            &Owner::Loop(l.name.clone()),
            NodeKind::Loop {
                steps: l.steps.clone(),
                inject: l.inject,
                width: 0,
                shift: l.shift,
            },
            "S",
            l.span,
        );
        b.data(src, n, Some(l.from.span));
        b.g.add_edge(
            n,
            dst,
            Edge {
                kind: EdgeKind::Loop {
                    name: l.name.clone(),
                },
                span: Some(l.to.span),
            },
        );
        loop_targets.push((l, src, dst, n));
    }

    let mut graph = ArchGraph {
        name: model.name.clone(),
        graph: b.g,
        params: model.params.clone(),
        masks: model.masks.clone(),
        lints: model.lints.clone(),
        heads: Vec::new(),
        outputs: Vec::new(),
    };
    for it in &items.list {
        if let Ref::Node(n) = it.out {
            graph.outputs.push((it.name.clone(), n));
        }
    }
    let acyclic = super::widths::check_cycles(&graph, &mut errors);
    if acyclic {
        super::widths::infer_widths(&mut graph, model, &mut errors);
    }
    for (h, projection, latent, _idx) in heads {
        let latent = match latent {
            Ref::Node(n) => Some(n),
            Ref::FromOf(_) => super::ports::resolve(&items, &h.from, &mut Vec::new()),
        };
        graph.heads.push(HeadInfo {
            name: h.name.clone(),
            span: h.span,
            kind: h.kind.clone(),
            target: h.target.as_ref().map(|t| t.0.clone()),
            projection,
            latent,
            objective: h.objective.clone(),
        });
    }
    if acyclic {
        for (l, src, dst, _n) in &loop_targets {
            let data_only = EdgeFiltered::from_fn(&graph.graph, |e| {
                matches!(e.weight().kind, EdgeKind::Data { .. })
            });
            if src == dst || !has_path_connecting(&data_only, *dst, *src, None) {
                errors.push(Error::LoopNotBackward {
                    at: l.span,
                    source: l.from.text(),
                    target: l.to.text(),
                });
            } else if graph.graph[*src].width != graph.graph[*dst].width {
                errors.push(Error::WidthMismatch {
                    producer: l.from.span,
                    producer_name: format!("loop source `{}`", l.from.text()),
                    producer_width: graph.graph[*src].width,
                    consumer: l.to.span,
                    consumer_name: format!("loop target `{}`", l.to.text()),
                    consumer_width: graph.graph[*dst].width,
                });
            }
        }
    }
    (graph, errors)
}
