//! What a loop needs to run as declared: a loop's segment holds no part of another loop
//! (how one would repeat inside the other is not defined), and an entropy gate's head
//! reads a value the loop updates, so it can be evaluated between passes.

use crate::diag::Error;
use crate::graph::{graph_to_plan, ArchGraph, LoopPlan, Owner};
use crate::model::{Model, Steps};
use petgraph::stable_graph::NodeIndex;

pub fn check(model: &Model, g: &ArchGraph, errors: &mut Vec<Error>) {
    let Some(plan) = graph_to_plan(g) else {
        return;
    };
    let span_of = |l: &LoopPlan| {
        let name = g.graph[l.node].owner.name();
        model.loops.iter().find(|m| m.name == name)
    };
    // Overlap: one loop's segment holds another's source or target's readers.
    for (i, a) in plan.loops.iter().enumerate() {
        for b in &plan.loops[..i] {
            if !a.segment.iter().any(|n| b.segment.contains(n)) {
                continue;
            }
            let (Some(la), Some(lb)) = (span_of(a), span_of(b)) else {
                continue;
            };
            errors.push(Error::LoopsOverlap {
                at: la.span,
                name: la.name.clone(),
                other: lb.span,
                other_name: lb.name.clone(),
            });
        }
    }
    for l in &plan.loops {
        let Some(decl) = span_of(l) else { continue };
        let Steps::Entropy { head, .. } = &l.steps else {
            continue;
        };
        let Some(&first) = plan.head_layers(g, head).first() else {
            continue;
        };
        let Some(&(input, _)) = g.data_inputs(first).first() else {
            continue;
        };
        if input == l.source || l.segment.contains(&input) {
            continue;
        }
        errors.push(Error::GateOutsideLoop {
            at: decl.gate_span,
            loop_name: decl.name.clone(),
            head: head.clone(),
            reads: port_name(g, input),
            source: port_name(g, l.source),
        });
    }
}

/// A node as the port that names it, for messages: `trunk.blocks.3.out`, `trunk.out`.
fn port_name(g: &ArchGraph, n: NodeIndex) -> String {
    let node = &g.graph[n];
    let item = node.owner.name();
    if g.outputs.iter().any(|(name, o)| name == item && *o == n) {
        return format!("{item}.out");
    }
    match &node.owner {
        Owner::Layer(_) | Owner::Alias(_) => item.to_string(),
        _ if node.path.contains(".blocks.") => format!("{}.out", node.path),
        _ => node.path.clone(),
    }
}
