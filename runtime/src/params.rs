//! Every parameter of a model, visited by its `.arch` name (docs/runtime.md): one walk
//! shared by loading, saving and the optimizer, so they can never disagree on a name.

use crate::diffusion::DiffusionMlp;
use crate::layers::{Attention, Block, Mlp, Norm};
use crate::model::{ArchModel, Plan};
use archc::graph::NodeKind;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor};

/// What is done to each parameter.
pub trait ParamVisitor<B: Backend> {
    type Error;
    /// `p` is held as named, except a linear weight (`transposed`), which is held
    /// `[in, out]` (burn) and named in PyTorch's `[out, in]` layout.
    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<B, D>>,
        transposed: bool,
    ) -> Result<(), Self::Error>;
}

/// Visits every parameter of `model`, nodes in the plan's order.
pub fn visit_params<B: Backend, V: ParamVisitor<B>>(
    model: &mut ArchModel<B>,
    plan: &Plan,
    v: &mut V,
) -> Result<(), V::Error> {
    for &n in &plan.order {
        let node = &plan.graph.graph[n];
        let m = &mut model.nodes[plan.slot[&n]];
        let path = &node.path;
        if let (Some(t), Some(modality)) = (&mut m.mask_token, plan.mask_points.get(&n)) {
            v.visit(&format!("{modality}.mask_token"), t, false)?;
        }
        if let Some(t) = &mut m.table {
            v.visit(&format!("{path}.weight"), t, false)?;
        }
        if let Some(t) = &mut m.start {
            v.visit(&format!("{path}.start"), t, false)?;
        }
        if let Some(b) = &mut m.block {
            block(v, path, b)?;
        }
        if let Some(nm) = &mut m.norm {
            norm(v, path, nm)?;
        }
        if let Some(d) = &mut m.diffusion {
            diffusion(v, path, d)?;
        }
        let many = m.linears.len() > 1
            || matches!(node.kind, NodeKind::Adapter { .. } | NodeKind::Mlp { .. });
        for (i, l) in m.linears.iter_mut().enumerate() {
            let name = if many {
                format!("{path}.{i}")
            } else {
                path.clone()
            };
            linear(v, &name, l)?;
        }
    }
    Ok(())
}

pub fn linear<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    l: &mut Linear<B>,
) -> Result<(), V::Error> {
    v.visit(&format!("{name}.weight"), &mut l.weight, true)?;
    if let Some(b) = &mut l.bias {
        v.visit(&format!("{name}.bias"), b, false)?;
    }
    Ok(())
}

pub fn norm<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    n: &mut Norm<B>,
) -> Result<(), V::Error> {
    v.visit(&format!("{name}.weight"), &mut n.weight, false)?;
    if let Some(b) = &mut n.bias {
        v.visit(&format!("{name}.bias"), b, false)?;
    }
    Ok(())
}

fn block<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    b: &mut Block<B>,
) -> Result<(), V::Error> {
    norm(v, &format!("{name}.attn_norm"), &mut b.attn_norm)?;
    attention(v, &format!("{name}.attn"), &mut b.attn)?;
    norm(v, &format!("{name}.mlp_norm"), &mut b.mlp_norm)?;
    mlp(v, &format!("{name}.mlp"), &mut b.mlp)?;
    if let Some(n) = &mut b.attn_post_norm {
        norm(v, &format!("{name}.attn_post_norm"), n)?;
    }
    if let Some(n) = &mut b.mlp_post_norm {
        norm(v, &format!("{name}.mlp_post_norm"), n)?;
    }
    Ok(())
}

fn attention<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    a: &mut Attention<B>,
) -> Result<(), V::Error> {
    for (part, l) in [
        ("q", &mut a.q),
        ("k", &mut a.k),
        ("v", &mut a.v),
        ("o", &mut a.o),
    ] {
        linear(v, &format!("{name}.{part}"), l)?;
    }
    if let Some(n) = &mut a.q_norm {
        norm(v, &format!("{name}.q_norm"), n)?;
    }
    if let Some(n) = &mut a.k_norm {
        norm(v, &format!("{name}.k_norm"), n)?;
    }
    Ok(())
}

fn mlp<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    m: &mut Mlp<B>,
) -> Result<(), V::Error> {
    if let Some(g) = &mut m.gate {
        linear(v, &format!("{name}.gate"), g)?;
    }
    linear(v, &format!("{name}.up"), &mut m.up)?;
    linear(v, &format!("{name}.down"), &mut m.down)
}

/// MAR's `SimpleMLPAdaLN`, named as in its `diffloss.py`.
fn diffusion<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    d: &mut DiffusionMlp<B>,
) -> Result<(), V::Error> {
    linear(v, &format!("{name}.time_embed.mlp.0"), &mut d.time_in)?;
    linear(v, &format!("{name}.time_embed.mlp.2"), &mut d.time_out)?;
    linear(v, &format!("{name}.cond_embed"), &mut d.cond)?;
    linear(v, &format!("{name}.input_proj"), &mut d.input)?;
    for (i, r) in d.blocks.iter_mut().enumerate() {
        let p = format!("{name}.res_blocks.{i}");
        norm(v, &format!("{p}.in_ln"), &mut r.norm)?;
        linear(v, &format!("{p}.mlp.0"), &mut r.mlp_in)?;
        linear(v, &format!("{p}.mlp.2"), &mut r.mlp_out)?;
        linear(v, &format!("{p}.adaLN_modulation.1"), &mut r.ada)?;
    }
    linear(
        v,
        &format!("{name}.final_layer.linear"),
        &mut d.final_linear,
    )?;
    linear(
        v,
        &format!("{name}.final_layer.adaLN_modulation.1"),
        &mut d.final_ada,
    )
}
