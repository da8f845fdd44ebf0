//! Ports: `X`, `X.in`, `X.out`, `X.blocks.N.in`, `X.blocks.N.out`.

use super::build::{Items, Ref};
use crate::diag::Error;
use crate::model::PortRef;
use crate::suggest::did_you_mean;
use petgraph::stable_graph::NodeIndex;

/// Resolves a port to the node whose output it names.
pub fn resolve(items: &Items, port: &PortRef, errors: &mut Vec<Error>) -> Option<NodeIndex> {
    resolve_via(items, port, &mut Vec::new(), errors)
}

/// `visiting`: the items whose `from:` is being followed (a head with no layers reading
/// its own output comes back to itself: a cycle, not a value).
fn resolve_via(
    items: &Items,
    port: &PortRef,
    visiting: &mut Vec<usize>,
    errors: &mut Vec<Error>,
) -> Option<NodeIndex> {
    let first = port.path.first()?;
    let Some(item) = items.index.get(first).map(|&i| &items.list[i]) else {
        errors.push(Error::UnknownName {
            at: port.span,
            name: first.clone(),
            what: "stem, trunk, head, layer or alias",
            suggestion: did_you_mean(first, items.list.iter().map(|i| i.name.as_str())),
        });
        return None;
    };
    let rest: Vec<&str> = port.path[1..].iter().map(String::as_str).collect();
    let bad = |reason: String, errors: &mut Vec<Error>| {
        errors.push(Error::BadPort {
            at: port.span,
            path: port.text(),
            reason,
        });
        None
    };
    let r = match rest.as_slice() {
        [] | ["out"] => item.out.clone(),
        ["in"] => item.input.clone(),
        ["blocks", n] | ["blocks", n, "out"] | ["blocks", n, "in"] => {
            let Ok(i) = n.parse::<usize>() else {
                return bad(format!("`{n}` is not a block number"), errors);
            };
            let Some((block_in, block_out)) = item.blocks.get(i) else {
                let reason = match item.blocks.len() {
                    0 => format!("`{}` has no blocks", item.name),
                    len => format!(
                        "`{}` has {len} blocks, numbered 0 to {}",
                        item.name,
                        len - 1
                    ),
                };
                return bad(reason, errors);
            };
            if rest.last() == Some(&"in") {
                block_in.clone()
            } else {
                Ref::Node(*block_out)
            }
        }
        [other, ..] => {
            let reason = match did_you_mean(other, ["in", "out", "blocks"]) {
                Some(s) => format!("`{other}` is not a port; did you mean `{s}`? A port is `in`, `out` or `blocks.N.in|out`"),
                None => format!("`{other}` is not a port: a port is `in`, `out` or `blocks.N.in|out`"),
            };
            return bad(reason, errors);
        }
    };
    match r {
        Ref::Node(n) => Some(n),
        Ref::FromOf(i) => {
            let from = items.list[i].from.first()?;
            if let Some(pos) = visiting.iter().position(|&v| v == i) {
                let ring = &visiting[pos..];
                errors.push(Error::Cycle {
                    at: from.span,
                    members: ring
                        .iter()
                        .map(|&v| format!("`{}`", items.list[v].name))
                        .collect(),
                    spans: ring
                        .iter()
                        .filter_map(|&v| items.list[v].from.first().map(|f| f.span))
                        .collect(),
                });
                return None;
            }
            if visiting.len() > crate::parse::MAX_NESTING {
                errors.push(Error::TooDeep {
                    at: port.span,
                    limit: crate::parse::MAX_NESTING,
                    what: "ports defined by ports without a layer between",
                });
                return None;
            }
            visiting.push(i);
            let found = resolve_via(items, from, visiting, errors);
            visiting.pop();
            found
        }
    }
}
