//! Stems outside the trunk, unused stems, layers, aliases and heads, and the gates of
//! entropy loops.

use crate::diag::Error;
use crate::graph::{ArchGraph, EdgeKind};
use crate::model::{HeadKind, Model, Steps};
use crate::suggest::did_you_mean;
use petgraph::visit::EdgeRef;

/// Whether anything outside `item` reads the value of `node`.
fn read_outside(g: &ArchGraph, node: petgraph::stable_graph::NodeIndex, item: &str) -> bool {
    g.graph
        .edges_directed(node, petgraph::Direction::Outgoing)
        .any(|e| {
            matches!(e.weight().kind, EdgeKind::Data { .. })
                && g.graph[e.target()].owner.name() != item
        })
}

pub fn check(model: &Model, g: &ArchGraph, errors: &mut Vec<Error>) {
    // A layer or alias nothing reads computes a value that goes nowhere (and one reading a
    // text head's latent would do so unseen by the output-latent rule, which looks at
    // readers).
    let named = model
        .layers
        .iter()
        .map(|l| (&l.name, l.span, "layer"))
        .chain(model.aliases.iter().map(|a| (&a.name, a.span, "alias")));
    let outputs: std::collections::HashMap<&str, _> = g
        .outputs
        .iter()
        .rev()
        .map(|(n, o)| (n.as_str(), *o))
        .collect();
    for (name, at, what) in named {
        if let Some(out) = outputs.get(name.as_str()) {
            if !read_outside(g, *out, name) {
                errors.push(Error::UnusedLayer {
                    at,
                    name: name.clone(),
                    what,
                });
            }
        }
    }
    // With a trunk, the runtime lays every stem out in the trunk's one sequence: a stem the
    // trunk does not read has no place in it.
    if let Some(t) = &model.trunk {
        let stems: std::collections::HashSet<&str> =
            model.stems.iter().map(|s| s.name.as_str()).collect();
        for p in t.from.iter().flatten() {
            let stem = stems.contains(p.path[0].as_str());
            if !stem
                || !matches!(&p.path[1..], [] | [_])
                || p.path.get(1).is_some_and(|o| o != "out")
            {
                errors.push(Error::BadPort {
                    at: p.span,
                    path: p.text(),
                    reason: if stem {
                        format!("the trunk merges whole stems: write `{}`", p.path[0])
                    } else {
                        format!("the trunk merges stems, and `{}` is not one", p.path[0])
                    },
                });
            }
        }
        let merged: std::collections::HashSet<&str> = t
            .from
            .as_ref()
            .map(|f| f.iter().map(|p| p.path[0].as_str()).collect())
            .unwrap_or_else(|| model.stems.iter().map(|s| s.name.as_str()).collect());
        for s in model
            .stems
            .iter()
            .filter(|s| !merged.contains(s.name.as_str()))
        {
            errors.push(Error::StemNotMerged {
                at: s.span,
                name: s.name.clone(),
                from: t
                    .from
                    .as_ref()
                    .and_then(|f| f.first().map(|p| p.span.to(f[f.len() - 1].span))),
            });
        }
        return unused_heads_and_gates(model, errors);
    }
    for s in &model.stems {
        let Some(out) = outputs.get(s.name.as_str()) else {
            continue;
        };
        if !read_outside(g, *out, &s.name) {
            errors.push(Error::UnusedStem {
                at: s.span,
                name: s.name.clone(),
            });
        }
    }
    unused_heads_and_gates(model, errors);
}

/// Weight-0 heads nothing gates on, and entropy gates on heads that are not text heads.
fn unused_heads_and_gates(model: &Model, errors: &mut Vec<Error>) {
    let gates: Vec<&str> = model
        .loops
        .iter()
        .filter_map(|l| match &l.steps {
            Steps::Entropy { head, .. } => Some(head.as_str()),
            _ => None,
        })
        .collect();
    for h in &model.heads {
        if h.objective.as_ref().is_some_and(|o| o.weight == 0.0)
            && !gates.contains(&h.name.as_str())
        {
            errors.push(Error::UnusedHead {
                at: h.span,
                name: h.name.clone(),
            });
        }
    }
    for l in &model.loops {
        if let Steps::Entropy { head, .. } = &l.steps {
            match model.heads.iter().find(|h| &h.name == head) {
                None => errors.push(Error::UnknownName {
                    at: l.gate_span,
                    name: head.clone(),
                    what: "head",
                    suggestion: did_you_mean(head, model.heads.iter().map(|h| h.name.as_str())),
                }),
                Some(h) if h.kind != HeadKind::Text => errors.push(Error::GateNotText {
                    at: l.gate_span,
                    head: head.clone(),
                    head_span: h.span,
                    kind: h.kind.name().to_string(),
                }),
                Some(_) => {}
            }
        }
    }
}
