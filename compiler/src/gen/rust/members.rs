//! Each node's parameter-holding member: its type, its constructor (layer specs written
//! out as `archc_nn::spec` literals) and how its parameters are visited.

use super::{act, b, block_spec, norm_spec, rs_str, Emitter, Member};
use crate::gen::GenError;
use crate::graph::NodeKind;
use crate::model::{Inject, ObjectiveKind, Projection};
use petgraph::stable_graph::NodeIndex;

impl Emitter<'_> {
    pub(super) fn member(&self, n: NodeIndex) -> Result<Option<Member>, GenError> {
        let node = self.node(n);
        let path = rs_str(&node.path);
        let lin = |i, o, bias| Member {
            ty: "Linear<B>".into(),
            ctor: Self::linear(i, o, bias),
            visit: format!("params::linear(v, {path}, &mut {{}})?;"),
        };
        let lins = |ls: Vec<String>| Member {
            ty: "Vec<Linear<B>>".into(),
            ctor: format!("vec![{}]", ls.join(", ")),
            visit: format!("params::linears(v, {path}, &mut {{}})?;"),
        };
        Ok(Some(match &node.kind {
            NodeKind::Embedding(e) if e.next_scale => Member {
                ty: "NextScale<B>".into(),
                ctor: format!(
                    "NextScale {{ weight: rng.normal_param([{}, {}], 0.02, device), start: rng.normal_param([{}], 0.02, device) }}",
                    e.vocab, e.dim, e.dim
                ),
                visit: format!(
                    "v.visit({}, &mut {{}}.weight, false)?;\n        v.visit({}, &mut {{}}.start, false)?;",
                    rs_str(&format!("{}.weight", node.path)),
                    rs_str(&format!("{}.start", node.path))
                ),
            },
            NodeKind::Embedding(e) => Member {
                ty: "Param<Tensor<B, 2>>".into(),
                ctor: format!("rng.normal_param([{}, {}], 0.02, device)", e.vocab, e.dim),
                visit: format!(
                    "v.visit({}, &mut {{}}, false)?;",
                    rs_str(&format!("{}.weight", node.path))
                ),
            },
            NodeKind::Positions { max_len, dim } => Member {
                ty: "Param<Tensor<B, 2>>".into(),
                ctor: format!("rng.normal_param([{max_len}, {dim}], 0.02, device)"),
                visit: format!(
                    "v.visit({}, &mut {{}}, false)?;",
                    rs_str(&format!("{}.weight", node.path))
                ),
            },
            NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => Member {
                ty: "Vec<Linear<B>>".into(),
                ctor: format!(
                    "stack_linears(rng, &StackSpec {{ input: {input}, hidden: {}, out: {}, layers: {}, bias: {}, act: {} }}, device)",
                    mlp.hidden, mlp.out, mlp.layers, b(mlp.bias), act(mlp.act)
                ),
                visit: format!("params::linears(v, {path}, &mut {{}})?;"),
            },
            NodeKind::Block(s) => Member {
                ty: "Block<B>".into(),
                ctor: format!("Block::new(rng, {}, device)", block_spec(s)),
                visit: format!("params::block(v, {path}, &mut {{}})?;"),
            },
            NodeKind::Norm(spec) => Member {
                ty: "Norm<B>".into(),
                ctor: format!("Norm::new({}, {}, device)", norm_spec(spec), node.width),
                visit: format!("params::norm(v, {path}, &mut {{}})?;"),
            },
            NodeKind::Linear { input, out, bias } => lin(*input, *out, *bias),
            NodeKind::Projection {
                input,
                out,
                projection,
            } => match projection {
                Projection::Linear { bias } => lin(*input, *out, *bias),
                Projection::Mlp { hidden, .. } => lins(vec![
                    Self::linear(*input, *hidden, true),
                    Self::linear(*hidden, *out, true),
                ]),
                Projection::Tied { .. } | Projection::None => return Ok(None),
            },
            NodeKind::Objective { target, objective } => match objective.kind {
                ObjectiveKind::Diffusion {
                    layers,
                    width,
                    steps,
                } => {
                    let z = self
                        .g
                        .data_inputs(n)
                        .first()
                        .map_or(0, |(s, _)| self.g.graph[*s].width);
                    let d = crate::analyze::token_dim(self.g, target.as_deref());
                    Member {
                        ty: "DiffusionMlp<B>".into(),
                        ctor: format!("DiffusionMlp::new(rng, {d}, {z}, {width}, {layers}, {steps}, device)"),
                        visit: format!("params::diffusion(v, {path}, &mut {{}})?;"),
                    }
                }
                _ => return Ok(None),
            },
            NodeKind::Loop {
                inject: Inject::ConcatLinear,
                width,
                ..
            } => lin(2 * width, *width, false),
            _ => return Ok(None),
        }))
    }
}
