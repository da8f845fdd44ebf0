//! What an item reads, as the port that names it; and the structural mistakes of a node
//! that no item can hold.

use super::syntax::path_expr;
use super::{key, Gen};
use crate::ast::Expr;
use crate::diag::Error;
use crate::graph::{EdgeKind, Node, NodeKind, Owner};
use crate::ir::read::Seg;
use crate::span::Span;

impl Gen<'_> {
    /// The one node of a single-node item, or a diagnostic.
    pub(super) fn single(&mut self, nodes: &[usize], what: &str) -> Option<usize> {
        match nodes {
            [one] => Some(*one),
            [_, second, ..] => {
                self.errors.push(Error::IrInconsistent {
                    at: self.at(*second, &["owner"]),
                    field: format!("`nodes[{second}].owner`"),
                    reason: format!("makes this a second node of a {what}, which is one layer"),
                });
                None
            }
            [] => None,
        }
    }

    pub(super) fn misplaced(&mut self, i: usize, what: &str) {
        self.errors.push(Error::IrInconsistent {
            at: self.at(i, &["kind", "op"]),
            field: format!("`nodes[{i}].kind.op`"),
            reason: format!(
                "is `{}`, a layer a {what} cannot hold",
                self.ir.nodes[i].kind.name()
            ),
        });
    }

    /// The edges into any of `nodes`, in document order.
    fn in_edges(&self, nodes: &[usize]) -> Vec<usize> {
        let mut edges: Vec<usize> = nodes
            .iter()
            .flat_map(|&n| self.into[n].iter().copied())
            .collect();
        edges.sort_unstable();
        edges
    }

    /// What an item reads: the port naming the source of the data edge into its first
    /// node from outside it.
    pub(super) fn from(&mut self, nodes: &[usize]) -> Option<Expr> {
        let owner = &self.ir.nodes[nodes[0]].owner;
        let (j, src) = self
            .in_edges(nodes)
            .into_iter()
            .map(|j| (j, &self.ir.edges[j]))
            .find(|(_, e)| {
                matches!(e.kind, EdgeKind::Data { .. }) && &self.ir.nodes[e.from].owner != owner
            })
            .map(|(j, e)| (j, e.from))?;
        self.port(src, self.span(&[key("edges"), Seg::Index(j)]))
    }

    /// The port that names node `n`'s value (`trunk.out`, `trunk.blocks.2.in`, `trunk.in`,
    /// `probe`), at `span`; a diagnostic if none does.
    pub(super) fn port(&mut self, n: usize, span: Span) -> Option<Expr> {
        let ir = self.ir;
        let node: &Node = &ir.nodes[n];
        let item = node.owner.name().to_string();
        let chain = self.chains[n].clone();
        let pos = chain.iter().position(|&i| i == n)?;
        let next = chain.get(pos + 1).map(|&i| &ir.nodes[i].kind);
        let text = match (&node.owner, &node.kind) {
            (Owner::Layer(_) | Owner::Alias(_), _) => Some(item),
            (Owner::Trunk(_), NodeKind::Merge { .. }) => Some(format!("{item}.in")),
            (Owner::Head(_), NodeKind::Projection { .. } | NodeKind::Objective { .. }) => None,
            (Owner::Loop(_), _) => None,
            // The last layer of a stem or trunk, or a head's latent (what enters its
            // projection or objective), is the item's output.
            (Owner::Head(_), _)
                if matches!(
                    next,
                    Some(NodeKind::Projection { .. } | NodeKind::Objective { .. })
                ) =>
            {
                Some(format!("{item}.out"))
            }
            (Owner::Stem(_) | Owner::Trunk(_), _) if next.is_none() => Some(format!("{item}.out")),
            (_, NodeKind::Block(_)) => Some(format!("{}.out", node.path)),
            // Before a block: that block's input.
            (_, _) => match next {
                Some(NodeKind::Block(_)) => Some(format!("{}.in", ir.nodes[chain[pos + 1]].path)),
                _ => None,
            },
        };
        match text {
            Some(t) => Some(path_expr(&t, span)),
            None => {
                self.errors.push(Error::IrInconsistent {
                    at: span,
                    field: "edge".into(),
                    reason: format!(
                        "reads `{}`, which no port names (a port is an item's `in` or `out`, or a block's `in` or `out`)",
                        node.path
                    ),
                });
                None
            }
        }
    }
}
