//! Checks on the built graph, one module each. `graph_checks` runs them all.

mod latent;
mod loops;
mod masks;
mod usage;

use crate::diag::Error;
use crate::graph::ArchGraph;
use crate::model::Model;

pub use latent::identity;

/// Every graph-level check. The graph must be acyclic (the builder said so).
pub fn graph_checks(model: &Model, graph: &ArchGraph, max_param_bytes: u128) -> Vec<Error> {
    let mut errors = Vec::new();
    latent::check(model, graph, &mut errors);
    usage::check(model, graph, &mut errors);
    loops::check(model, graph, &mut errors);
    masks::check(model, &mut errors);
    let count = crate::analyze::count_params(graph);
    let bytes = count.total.saturating_mul(4);
    if bytes > max_param_bytes {
        let at = model
            .trunk
            .as_ref()
            .map(|t| t.span)
            .or(model.stems.first().map(|s| s.span))
            .unwrap_or_default();
        errors.push(Error::TooManyParams {
            at,
            params: count.total,
            bytes,
            limit_bytes: max_param_bytes,
        });
    }
    errors
}
