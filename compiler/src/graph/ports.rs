//! Ports: `X`, `X.in`, `X.out`, `X.blocks.N.in`, `X.blocks.N.out`.

use super::build::{Items, Ref};
use crate::diag::Error;
use crate::model::PortRef;
use crate::suggest::did_you_mean;
use petgraph::stable_graph::NodeIndex;

/// Resolves a port to the node whose output it names. `depth` guards alias chains that
/// point at each other (reported as a cycle by the caller's second visit).
pub fn resolve(
    items: &Items,
    port: &PortRef,
    depth: usize,
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
            if depth > crate::parse::MAX_NESTING {
                // Aliases of aliases this deep (or in a ring) are refused, not followed.
                errors.push(Error::TooDeep {
                    at: port.span,
                    limit: crate::parse::MAX_NESTING,
                });
                return None;
            }
            resolve(items, from, depth + 1, errors)
        }
    }
}
