//! Unused stems and heads, and the gates of entropy loops.

use crate::diag::Error;
use crate::graph::{ArchGraph, EdgeKind};
use crate::model::{HeadKind, Model, Steps};
use crate::suggest::did_you_mean;
use petgraph::visit::EdgeRef;

pub fn check(model: &Model, g: &ArchGraph, errors: &mut Vec<Error>) {
    for s in &model.stems {
        let Some((_, out)) = g.outputs.iter().find(|(n, _)| n == &s.name) else {
            continue;
        };
        let read = g
            .graph
            .edges_directed(*out, petgraph::Direction::Outgoing)
            .any(|e| {
                matches!(e.weight().kind, EdgeKind::Data { .. })
                    && g.graph[e.target()].owner.name() != s.name
            });
        if !read {
            errors.push(Error::UnusedStem {
                at: s.span,
                name: s.name.clone(),
            });
        }
    }
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
