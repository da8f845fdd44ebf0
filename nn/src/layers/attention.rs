//! Multi-head attention (grouped-query when there are fewer kv heads), with per-head
//! QK-norm and rotary positions, over a mask given as data.

use super::norm::Norm;
use super::ops::linear;
use crate::rng::Rng;
use crate::spec::AttentionSpec;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::softmax;
use burn::tensor::{backend::Backend, Bool, Tensor};

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q: Linear<B>,
    pub k: Linear<B>,
    pub v: Linear<B>,
    pub o: Linear<B>,
    pub q_norm: Option<Norm<B>>,
    pub k_norm: Option<Norm<B>>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// RoPE base; `None` for no rotary positions.
    pub rope_theta: Option<f64>,
}

impl<B: Backend> Attention<B> {
    /// Draws q, k, v, o.
    pub fn new(rng: &mut Rng, a: AttentionSpec, width: usize, device: &B::Device) -> Self {
        let (h, kv, hd) = (a.heads, a.kv_heads, a.head_dim);
        Attention {
            q: linear(rng, width, h * hd, a.bias, device),
            k: linear(rng, width, kv * hd, a.bias, device),
            v: linear(rng, width, kv * hd, a.bias, device),
            o: linear(rng, h * hd, width, a.bias, device),
            q_norm: a.qk_norm.map(|n| Norm::new(n, hd, device)),
            k_norm: a.qk_norm.map(|n| Norm::new(n, hd, device)),
            heads: h,
            kv_heads: kv,
            head_dim: hd,
            rope_theta: a.rope_theta,
        }
    }

    /// `mask`: `[b, s, s]`, true where a position may NOT attend.
    ///
    /// # Shapes
    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 3, Bool>) -> Tensor<B, 3> {
        self.forward_cached(x, mask, 0, None).0
    }

    /// Attention of `s` new positions, the first at position `start` of its domain, over
    /// the `past` keys and values (of positions `0..start`) and their own. Returns the
    /// output and the new positions' keys and values (after QK-norm and rotation, before
    /// grouping), for the cache.
    ///
    /// # Shapes
    /// x `[b, s, width]`, mask `[b, s, start + s]`, past `[b, kv, start, hd]` ×2
    /// -> `[b, s, width]`, `[b, kv, s, hd]` ×2
    #[allow(clippy::type_complexity)]
    pub fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        mask: Tensor<B, 3, Bool>,
        start: usize,
        past: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    ) -> (Tensor<B, 3>, (Tensor<B, 4>, Tensor<B, 4>)) {
        let [b, s, _] = x.dims();
        let (h, kv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let split = |t: Tensor<B, 3>, n: usize| t.reshape([b, s, n, hd]).swap_dims(1, 2); // [b, n, s, hd]
        let mut q = split(self.q.forward(x.clone()), h);
        let mut k = split(self.k.forward(x.clone()), kv);
        let v = split(self.v.forward(x), kv);
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = qn.forward(q);
            k = kn.forward(k);
        }
        if let Some(theta) = self.rope_theta {
            q = rope(q, theta, start);
            k = rope(k, theta, start);
        }
        let new = (k.clone(), v.clone());
        let (k, v) = match past {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        let t = k.dims()[2]; // start + s
                             // Grouped-query attention: each kv head serves heads / kv_heads query heads.
        let group = |x: Tensor<B, 4>| {
            if kv == h {
                x
            } else {
                x.unsqueeze_dim::<5>(2)
                    .expand([b, kv, h / kv, t, hd])
                    .reshape([b, h, t, hd])
            }
        };
        let (k, v) = (group(k), group(v));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt()); // [b, h, s, t]
        let scores = scores.mask_fill(
            mask.unsqueeze_dim::<4>(1).expand([b, h, s, t]),
            f32::NEG_INFINITY,
        );
        let out = softmax(scores, 3).matmul(v); // [b, h, s, hd]
        (
            self.o.forward(out.swap_dims(1, 2).reshape([b, s, h * hd])),
            new,
        )
    }
}

/// Rotary positions, in the half-split ("rotate_half") layout of Llama and GPT-NeoX.
///
/// `start` is the position of the first row.
///
/// # Shapes
/// `[b, h, s, hd]` -> `[b, h, s, hd]`
pub fn rope<B: Backend>(x: Tensor<B, 4>, theta: f64, start: usize) -> Tensor<B, 4> {
    let [_, _, s, hd] = x.dims();
    let half = hd / 2;
    let device = x.device();
    let inv: Vec<f32> = (0..half)
        .map(|i| (1.0 / theta.powf(2.0 * i as f64 / hd as f64)) as f32)
        .collect();
    let pos: Vec<f32> = (start..start + s).map(|p| p as f32).collect();
    let angles = Tensor::<B, 1>::from_floats(pos.as_slice(), &device)
        .reshape([s, 1])
        .matmul(Tensor::<B, 1>::from_floats(inv.as_slice(), &device).reshape([1, half])); // [s, half]
    let angles = Tensor::cat(vec![angles.clone(), angles], 1); // [s, hd]
    let (cos, sin) = (
        angles.clone().cos().unsqueeze::<4>(),
        angles.sin().unsqueeze::<4>(),
    );
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x.mul(cos).add(rotated.mul(sin))
}
