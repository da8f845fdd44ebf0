//! Every parameter of a layer, visited by its `.arch` name (archc's docs/runtime.md): one
//! walk shared by loading, saving and the optimizer, so they can never disagree on a name.

use crate::diffusion::DiffusionMlp;
use crate::layers::{Attention, Block, Mlp, Norm};
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

/// A model whose every parameter can be walked by `.arch` name: what the optimizer,
/// loading and saving need of it.
pub trait Parameters<B: Backend>: Clone {
    fn visit_params<V: ParamVisitor<B>>(&mut self, v: &mut V) -> Result<(), V::Error>;
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

/// A stack's linear maps, `{name}.0`, `{name}.1`, ...
pub fn linears<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    ls: &mut [Linear<B>],
) -> Result<(), V::Error> {
    for (i, l) in ls.iter_mut().enumerate() {
        linear(v, &format!("{name}.{i}"), l)?;
    }
    Ok(())
}

/// Blocks `{name}.0`, `{name}.1`, ...
pub fn blocks<B: Backend, V: ParamVisitor<B>>(
    v: &mut V,
    name: &str,
    bs: &mut [Block<B>],
) -> Result<(), V::Error> {
    for (i, b) in bs.iter_mut().enumerate() {
        block(v, &format!("{name}.{i}"), b)?;
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

pub fn block<B: Backend, V: ParamVisitor<B>>(
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

pub fn attention<B: Backend, V: ParamVisitor<B>>(
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

pub fn mlp<B: Backend, V: ParamVisitor<B>>(
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
pub fn diffusion<B: Backend, V: ParamVisitor<B>>(
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
