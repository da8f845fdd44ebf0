//! The generated forward pass: one statement per node in plan order, loops written out as
//! `while` loops over their segment (the runtime's `forward.rs`, unrolled).

use super::{act, rs_str, Emitter};
use crate::gen::names::{comment, var};
use crate::gen::GenError;
use crate::graph::{LoopPlan, NodeKind, Owner};
use crate::model::{Inject, ObjectiveKind, Projection, Steps};
use petgraph::stable_graph::NodeIndex;
use std::fmt::Write;

impl Emitter<'_> {
    fn read(&self, src: NodeIndex, rows: &str) -> Result<String, GenError> {
        let from = &self.node(src).rows;
        let v = &self.vars[&src];
        if from == rows {
            Ok(format!("{v}.clone()"))
        } else if from == "S" {
            Ok(format!("batch.gather({v}.clone(), {})", rs_str(rows)))
        } else {
            Err(GenError::Unsupported(format!(
                "`{}` holds `{from}` positions, but `{rows}` are read",
                self.node(src).path
            )))
        }
    }

    fn input(&self, n: NodeIndex) -> Result<String, GenError> {
        let (src, _) = self.g.data_inputs(n).first().copied().ok_or_else(|| {
            GenError::Unsupported(format!("`{}` has no input", self.node(n).path))
        })?;
        self.read(src, &self.node(n).rows)
    }

    fn mask_var(rows: &str) -> String {
        var("mask_", rows)
    }

    /// The statements computing `n`: `let mut x = ...;` when `declare`, else `x = ...;`.
    fn stmt(&self, n: NodeIndex, declare: bool, lines: &mut Vec<String>) -> Result<(), GenError> {
        let node = self.node(n);
        let v = &self.vars[&n];
        let at = self.place(&node.path);
        let lhs = if declare {
            format!("let mut {v}")
        } else {
            v.clone()
        };
        let shape = format!(
            " // [b, n_{}, {}]",
            comment(node.rows.trim_start_matches("S_")),
            node.width
        );
        let rhs = match &node.kind {
            NodeKind::Input { modality, stem } => match stem {
                crate::model::StemKind::Features { .. } => {
                    format!("batch.features({})?", rs_str(modality))
                }
                _ => return Ok(()),
            },
            NodeKind::Embedding(_) => {
                let (src, _) = self.g.data_inputs(n)[0];
                let NodeKind::Input { modality, .. } = &self.node(src).kind else {
                    return Err(GenError::Unsupported(format!(
                        "`{}` reads something other than ids",
                        node.path
                    )));
                };
                match self.g.next_scale_sides(modality) {
                    Some(sides) => format!(
                        "{at}.forward(batch.ids({})?, &{sides:?})?",
                        rs_str(modality)
                    ),
                    None => format!("embed(&{at}, batch.ids({})?)", rs_str(modality)),
                }
            }
            NodeKind::Positions { .. } => format!("add_positions({}, &{at})?", self.input(n)?),
            NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
                format!("stack(&{at}, {}, {})", act(mlp.act), self.input(n)?)
            }
            NodeKind::Merge { .. } => {
                let mut parts = Vec::new();
                for (src, _) in self.g.data_inputs(n) {
                    let Owner::Stem(stem) = &self.node(src).owner else {
                        return Err(GenError::Unsupported(format!(
                            "the trunk reads `{}`, which is not a stem",
                            self.node(src).path
                        )));
                    };
                    parts.push(format!(
                        "({}, {})",
                        rs_str(stem),
                        self.read(src, &self.node(src).rows)?
                    ));
                }
                format!("batch.merge(&[{}])?", parts.join(", "))
            }
            NodeKind::Alias => self.input(n)?,
            NodeKind::Block(_) => format!(
                "{at}.forward({}, {}.clone())",
                self.input(n)?,
                Self::mask_var(&node.rows)
            ),
            NodeKind::Norm(_) | NodeKind::Linear { .. } => {
                format!("{at}.forward({})", self.input(n)?)
            }
            NodeKind::Projection { projection, .. } => {
                let x = self.input(n)?;
                let y = match projection {
                    Projection::Tied { .. } => {
                        let emb = self.g.tied_embedding(n).ok_or_else(|| {
                            GenError::Unsupported(format!("`{}` is tied to nothing", node.path))
                        })?;
                        // A `next_scale` embedding's table is its `weight` member.
                        let table = match &self.node(emb).kind {
                            NodeKind::Embedding(e) if e.next_scale => ".weight",
                            _ => "",
                        };
                        format!("tied({x}, &{}{table})", self.place(&self.node(emb).path))
                    }
                    Projection::Mlp { act: a, .. } => {
                        format!("{at}[1].forward(act({}, {at}[0].forward({x})))", act(*a))
                    }
                    Projection::Linear { .. } => format!("{at}.forward({x})"),
                    Projection::None => x,
                };
                lines.push(format!("{lhs} = {y};{shape}"));
                if let Owner::Head(h) = &node.owner {
                    lines.push(format!(
                        "heads.insert({}.to_string(), {v}.clone());",
                        rs_str(h)
                    ));
                }
                return Ok(());
            }
            NodeKind::Objective { objective, .. } => {
                if let (Owner::Head(h), ObjectiveKind::Diffusion { .. }) =
                    (&node.owner, &objective.kind)
                {
                    // A diffusion head's output is its latent.
                    lines.push(format!(
                        "heads.entry({}.to_string()).or_insert({});",
                        rs_str(h),
                        self.input(n)?
                    ));
                }
                return Ok(());
            }
            NodeKind::Loop { .. } => return Ok(()),
        };
        lines.push(format!("{lhs} = {rhs};{shape}"));
        if let Some((_, modality)) = self.plan.mask_points.iter().find(|(p, _)| *p == n) {
            lines.push(format!(
                "if let Some(m) = batch.masked.get({}) {{",
                rs_str(modality)
            ));
            lines.push(format!(
                "    {v} = mask_rows({v}, &{}.mask_token, m.clone()); // rows replaced by the learned mask token",
                self.place(modality)
            ));
            lines.push("}".into());
        }
        Ok(())
    }

    pub(super) fn forward(&self, out: &mut String) -> Result<(), GenError> {
        out.push_str("    /// The forward pass over a batch (archc's docs/runtime.md gives the batch format).\n    #[allow(unused_mut, unused_assignments, unused_variables, clippy::let_and_return)]\n    pub fn forward(&self, batch: &Batch<B>) -> Result<Output<B>, String> {\n        let device = batch.device()?;\n");
        let domains = self.plan.block_domains(self.g);
        if !domains.is_empty() {
            out.push_str("        let regions = masks();\n");
        }
        for d in &domains {
            let _ = writeln!(
                out,
                "        let {} = batch.mask({}, &regions, &device);",
                Self::mask_var(d),
                rs_str(d)
            );
        }
        out.push_str("        let mut heads = HashMap::new();\n        let mut loop_steps = HashMap::new();\n");
        let mut lines = Vec::new();
        for &n in &self.plan.order {
            self.stmt(n, true, &mut lines)?;
            for l in self.plan.loops.iter().filter(|l| l.source == n) {
                self.repeat(l, &mut lines)?;
            }
        }
        for l in lines {
            for part in l.split('\n') {
                let _ = writeln!(out, "        {part}");
            }
        }
        out.push_str("        Ok(Output { heads, loop_steps })\n    }\n");
        Ok(())
    }

    fn repeat(&self, l: &LoopPlan, lines: &mut Vec<String>) -> Result<(), GenError> {
        let name = rs_str(&self.node(l.node).path);
        let target = &self.vars[&l.target];
        let (passes, keep) = match &l.steps {
            Steps::Fixed { n } => (n.to_string(), n.to_string()),
            Steps::Sampled { mean, backprop } => (
                format!("batch.steps.get({name}).copied().unwrap_or({mean}).max(1)"),
                backprop.to_string(),
            ),
            Steps::Entropy { max, .. } => (max.to_string(), max.to_string()),
        };
        lines.push(format!(
            "// loop `{}`: {} -> {}; the layers between run again",
            comment(&self.node(l.node).path),
            comment(&self.node(l.source).path),
            comment(&self.node(l.target).path)
        ));
        lines.push(format!("let original = {target}.clone();"));
        lines.push(format!("let passes: usize = {passes};"));
        lines.push("let mut done = 1;".into());
        lines.push("while done < passes {".into());
        let mut body = Vec::new();
        if let Steps::Entropy {
            head, threshold, ..
        } = &l.steps
        {
            body.push(format!(
                "// the gate: head `{}` on the current values",
                comment(head)
            ));
            let chain = self.plan.head_layers(self.g, head);
            for n in chain {
                self.stmt(n, true, &mut body)?;
            }
            body.push(format!(
                "let gate = heads.get({}).cloned().ok_or(\"the gate head has no output\")?;",
                rs_str(head)
            ));
            body.push(format!("if entropy(gate) <= {threshold:?} {{"));
            body.push("    break;".into());
            body.push("}".into());
        }
        body.push(format!(
            "let mut state = {};",
            self.read(l.source, &self.node(l.target).rows)?
        ));
        body.push(format!("if passes - done + 1 > {keep} {{\n    // truncated backprop: no gradient through earlier passes\n    state = state.detach();\n}}"));
        if l.shift > 0 {
            body.push(format!(
                "state = shifted(state, original.clone(), {});",
                l.shift
            ));
        }
        body.push(match l.inject {
            Inject::Add => format!("{target} = original.clone() + state;"),
            Inject::Replace => format!("{target} = state;"),
            Inject::ConcatLinear => format!(
                "{target} = {}.forward(Tensor::cat(vec![state, original.clone()], 2));",
                self.place(&self.node(l.node).path)
            ),
        });
        for &n in &l.segment {
            self.stmt(n, false, &mut body)?;
        }
        body.push("done += 1;".into());
        for line in body {
            for part in line.split('\n') {
                lines.push(format!("    {part}"));
            }
        }
        lines.push("}".into());
        lines.push(format!("loop_steps.insert({name}.to_string(), done);"));
        Ok(())
    }
}
