//! A transformer block: attention and MLP sublayers with their norms where the
//! placement puts them (archc's docs/semantics.md, "Blocks").

use super::attention::Attention;
use super::mlp::Mlp;
use super::norm::Norm;
use crate::rng::Rng;
use crate::spec::{BlockSpec, Placement};
use burn::module::Module;
use burn::tensor::{backend::Backend, Bool, Tensor};

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub attn_norm: Norm<B>,
    pub attn: Attention<B>,
    pub mlp_norm: Norm<B>,
    pub mlp: Mlp<B>,
    pub attn_post_norm: Option<Norm<B>>,
    pub mlp_post_norm: Option<Norm<B>>,
    #[module(skip)]
    pub placement: Placement,
}

impl<B: Backend> Block<B> {
    /// Draws the attention's parameters, then the MLP's (norms start at ones and zeros).
    pub fn new(rng: &mut Rng, spec: BlockSpec, device: &B::Device) -> Self {
        let w = spec.width;
        let norm = || Norm::new(spec.norm, w, device);
        let sandwich = spec.placement == Placement::Sandwich;
        Block {
            attn_norm: norm(),
            attn: Attention::new(rng, spec.attention, w, device),
            mlp_norm: norm(),
            mlp: Mlp::new(rng, spec.mlp, w, device),
            attn_post_norm: sandwich.then(norm),
            mlp_post_norm: sandwich.then(norm),
            placement: spec.placement,
        }
    }

    /// # Shapes
    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 3, Bool>) -> Tensor<B, 3> {
        self.forward_with(x, |a, h| a.forward(h, mask))
    }

    /// The block with its attention sublayer computed by `attn` (the cached decoder's
    /// attention, or the plain one).
    ///
    /// # Shapes
    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward_with(
        &self,
        x: Tensor<B, 3>,
        attn: impl FnOnce(&Attention<B>, Tensor<B, 3>) -> Tensor<B, 3>,
    ) -> Tensor<B, 3> {
        match self.placement {
            Placement::Post => {
                // x = norm(x + f(x))
                let x = self.attn_norm.forward(x.clone() + attn(&self.attn, x));
                self.mlp_norm.forward(x.clone() + self.mlp.forward(x))
            }
            Placement::ResPost => {
                // x = x + norm(f(x))
                let x = x.clone() + self.attn_norm.forward(attn(&self.attn, x));
                x.clone() + self.mlp_norm.forward(self.mlp.forward(x))
            }
            Placement::Sandwich => {
                // x = x + post(f(pre(x)))
                let a = attn(&self.attn, self.attn_norm.forward(x.clone()));
                let a = self
                    .attn_post_norm
                    .as_ref()
                    .map_or(a.clone(), |n| n.forward(a));
                let x = x + a;
                let m = self.mlp.forward(self.mlp_norm.forward(x.clone()));
                let m = self
                    .mlp_post_norm
                    .as_ref()
                    .map_or(m.clone(), |n| n.forward(m));
                x + m
            }
            Placement::Pre => {
                // x = x + f(norm(x))
                let x = x.clone() + attn(&self.attn, self.attn_norm.forward(x));
                x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
            }
        }
    }
}
