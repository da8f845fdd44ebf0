//! The layers a block is made of, built from the IR's specs (docs/semantics.md says what
//! each computes). Weights are stored in burn's layout ([in, out] for linear maps); the
//! loader transposes from the PyTorch layout the checkpoints use.

use crate::init::InitParams;
use crate::rng::Rng;
use archc::model::{
    Attention as AttnSpec, BlockSpec, MlpKind, Norm as NormSpec, NormKind, Placement, Positions,
};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu, silu, softmax};
use burn::tensor::{backend::Backend, Bool, Tensor};

/// LayerNorm (with or without bias) or RMSNorm over the last dimension.
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    pub rms: bool,
    pub eps: f64,
}

impl<B: Backend> Norm<B> {
    pub fn new(spec: &NormSpec, width: usize, device: &B::Device) -> Self {
        let (rms, bias) = match spec.kind {
            NormKind::Rmsnorm => (true, false),
            NormKind::Layernorm { bias } => (false, bias),
        };
        Norm {
            weight: Param::from_tensor(Tensor::ones([width], device)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([width], device))),
            rms,
            eps: spec.eps,
        }
    }

    /// # Shapes
    /// `[.., width]` -> `[.., width]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = if self.rms {
            let ms = (x.clone() * x.clone()).mean_dim(D - 1);
            x.div((ms + self.eps).sqrt())
        } else {
            let mean = x.clone().mean_dim(D - 1);
            let centered = x.sub(mean);
            let var = (centered.clone() * centered.clone()).mean_dim(D - 1);
            centered.div((var + self.eps).sqrt())
        };
        let x = x.mul(self.weight.val().unsqueeze());
        match &self.bias {
            Some(b) => x.add(b.val().unsqueeze()),
            None => x,
        }
    }
}

/// A linear map `input -> out`, weights U(-k, k) with k = 1/sqrt(input) (PyTorch's default).
pub fn linear<B: Backend>(
    init: &mut Rng,
    input: usize,
    out: usize,
    bias: bool,
    device: &B::Device,
) -> Linear<B> {
    let k = 1.0 / (input as f64).sqrt();
    Linear {
        weight: init.uniform([input, out], k, device),
        bias: bias.then(|| init.uniform([out], k, device)),
    }
}

/// GELU with the tanh approximation (GPT-2's `gelu_new`):
/// x/2 · (1 + tanh(z)), z = √(2/π) · (x + 0.044715 x³), computed as x / (1 + e^(−2z)) (the
/// same function: (1 + tanh z)/2 = σ(2z)). Burn's `gelu_approximate` spends a `powf` per
/// element on the cube and ndarray's tanh goes through f64 `tanh`/`expm1`: together ~25%
/// of a GPT-2-tiny training step on CPU (perf); an f32 `exp` and products cost far less.
pub fn gelu_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    const SQRT_2_OVER_PI: f64 =
        core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2;
    let cube = x.clone() * x.clone() * x.clone();
    let z = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    x / ((z * -2.0).exp() + 1.0)
}

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate: Option<Linear<B>>,
    pub up: Linear<B>,
    pub down: Linear<B>,
    /// 0 gelu, 1 gelu_tanh, 2 relu, 3 swiglu (a module field must be plain data).
    pub kind: usize,
}

impl<B: Backend> Mlp<B> {
    pub fn new(
        init: &mut Rng,
        kind: MlpKind,
        width: usize,
        hidden: usize,
        bias: bool,
        device: &B::Device,
    ) -> Self {
        let kind_id = match kind {
            MlpKind::Gelu => 0,
            MlpKind::GeluTanh => 1,
            MlpKind::Relu => 2,
            MlpKind::Swiglu => 3,
        };
        Mlp {
            gate: (kind == MlpKind::Swiglu).then(|| linear(init, width, hidden, bias, device)),
            up: linear(init, width, hidden, bias, device),
            down: linear(init, hidden, width, bias, device),
            kind: kind_id,
        }
    }

    /// # Shapes
    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = match (self.kind, &self.gate) {
            (3, Some(gate)) => silu(gate.forward(x.clone())).mul(self.up.forward(x)),
            (0, _) => gelu(self.up.forward(x)),
            (1, _) => gelu_tanh(self.up.forward(x)),
            _ => relu(self.up.forward(x)),
        };
        self.down.forward(h)
    }
}

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
    /// RoPE base; 0 for no rotary positions.
    pub rope_theta: f64,
}

impl<B: Backend> Attention<B> {
    pub fn new(
        init: &mut Rng,
        a: &AttnSpec,
        width: usize,
        norm: &NormSpec,
        device: &B::Device,
    ) -> Self {
        let (h, kv, hd) = (a.heads as usize, a.kv_heads as usize, a.head_dim as usize);
        Attention {
            q: linear(init, width, h * hd, a.bias, device),
            k: linear(init, width, kv * hd, a.bias, device),
            v: linear(init, width, kv * hd, a.bias, device),
            o: linear(init, h * hd, width, a.bias, device),
            q_norm: a.qk_norm.then(|| Norm::new(norm, hd, device)),
            k_norm: a.qk_norm.then(|| Norm::new(norm, hd, device)),
            heads: h,
            kv_heads: kv,
            head_dim: hd,
            rope_theta: match a.positions {
                Positions::Rope { theta } => theta,
                Positions::None => 0.0,
            },
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
        if self.rope_theta > 0.0 {
            q = rope(q, self.rope_theta, start);
            k = rope(k, self.rope_theta, start);
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

#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub attn_norm: Norm<B>,
    pub attn: Attention<B>,
    pub mlp_norm: Norm<B>,
    pub mlp: Mlp<B>,
    pub attn_post_norm: Option<Norm<B>>,
    pub mlp_post_norm: Option<Norm<B>>,
    /// 0 pre, 1 post, 2 res_post, 3 sandwich.
    pub placement: usize,
}

impl<B: Backend> Block<B> {
    pub fn new(init: &mut Rng, spec: &BlockSpec, device: &B::Device) -> Self {
        let w = spec.width as usize;
        let sandwich = spec.placement == Placement::Sandwich;
        Block {
            attn_norm: Norm::new(&spec.norm, w, device),
            attn: Attention::new(init, &spec.attention, w, &spec.norm, device),
            mlp_norm: Norm::new(&spec.norm, w, device),
            mlp: Mlp::new(
                init,
                spec.mlp.kind,
                w,
                spec.mlp.hidden as usize,
                spec.mlp.bias,
                device,
            ),
            attn_post_norm: sandwich.then(|| Norm::new(&spec.norm, w, device)),
            mlp_post_norm: sandwich.then(|| Norm::new(&spec.norm, w, device)),
            placement: match spec.placement {
                Placement::Pre => 0,
                Placement::Post => 1,
                Placement::ResPost => 2,
                Placement::Sandwich => 3,
            },
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
            // post: x = norm(x + f(x))
            1 => {
                let x = self.attn_norm.forward(x.clone() + attn(&self.attn, x));
                self.mlp_norm.forward(x.clone() + self.mlp.forward(x))
            }
            // res_post (Chameleon's swin norm): x = x + norm(f(x))
            2 => {
                let x = x.clone() + self.attn_norm.forward(attn(&self.attn, x));
                x.clone() + self.mlp_norm.forward(self.mlp.forward(x))
            }
            // sandwich: x = x + post(f(pre(x)))
            3 => {
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
            // pre: x = x + f(norm(x))
            _ => {
                let x = x.clone() + attn(&self.attn, self.attn_norm.forward(x));
                x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
            }
        }
    }
}
