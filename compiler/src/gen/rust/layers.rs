//! The layers every archc model is made of, over burn 0.21. What each computes is archc's
//! docs/semantics.md; archc's runtime and the generated PyTorch model compute the same.
//! Weights are held in burn's layout ([in, out] for linear maps) and named, loaded and
//! saved in PyTorch's (see `weights.rs`).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu, silu, softmax};
use burn::tensor::{backend::Backend, Bool, Int, Tensor, TensorData};

/// SplitMix64 (archc's runtime generator): initialisation and every training draw, the
/// same numbers on every backend. Its whole state is one `u64`, which checkpoints store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The whole state, for a checkpoint.
    pub fn state(&self) -> u64 {
        self.0
    }

    /// A generator continuing from a [`Rng::state`].
    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A Poisson(lambda) count: Knuth's product method on pieces of lambda <= 16.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = lambda.max(0.0);
        let mut count = 0;
        while left > 0.0 {
            let piece = left.min(16.0);
            left -= piece;
            let limit = (-piece).exp();
            let mut p = self.unit();
            while p > limit {
                count += 1;
                p *= self.unit();
            }
        }
        count
    }

    /// U(-k, k) of a shape.
    pub fn uniform<B: Backend, const D: usize>(&mut self, shape: [usize; D], k: f64, device: &B::Device) -> Param<Tensor<B, D>> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| ((self.unit() * 2.0 - 1.0) * k) as f32).collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
    }

    /// N(0, std²) of a shape.
    pub fn normal_param<B: Backend, const D: usize>(&mut self, shape: [usize; D], std: f64, device: &B::Device) -> Param<Tensor<B, D>> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.normal() * std) as f32).collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
    }
}

/// A linear map `input -> out`, U(-k, k) with k = 1/sqrt(input) (PyTorch's default).
pub fn linear<B: Backend>(rng: &mut Rng, input: usize, out: usize, bias: bool, device: &B::Device) -> Linear<B> {
    let k = 1.0 / (input as f64).sqrt();
    Linear {
        weight: rng.uniform([input, out], k, device),
        bias: bias.then(|| rng.uniform([out], k, device)),
    }
}

/// An activation between the layers of an MLP stack or a projection.
#[derive(Clone, Copy, Debug)]
pub enum Act {
    Gelu,
    Relu,
    Silu,
    Tanh,
}

pub fn act<B: Backend, const D: usize>(a: Act, x: Tensor<B, D>) -> Tensor<B, D> {
    match a {
        Act::Gelu => gelu(x),
        Act::Relu => relu(x),
        Act::Silu => silu(x),
        Act::Tanh => x.tanh(),
    }
}

/// GELU with the tanh approximation, as x / (1 + e^(−2z)), z = √(2/π)(x + 0.044715 x³).
pub fn gelu_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    const SQRT_2_OVER_PI: f64 = core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2;
    let cube = x.clone() * x.clone() * x.clone();
    let z = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    x / ((z * -2.0).exp() + 1.0)
}

/// LayerNorm (biased variance, eps inside the root) or RMSNorm over the last dimension.
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    pub rms: bool,
    pub eps: f64,
}

impl<B: Backend> Norm<B> {
    pub fn new(width: usize, rms: bool, bias: bool, eps: f64, device: &B::Device) -> Self {
        Norm {
            weight: Param::from_tensor(Tensor::ones([width], device)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([width], device))),
            rms,
            eps,
        }
    }

    /// `[.., width]` -> `[.., width]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = if self.rms {
            let ms = (x.clone() * x.clone()).mean_dim(D - 1);
            x.div((ms + self.eps).sqrt())
        } else {
            let centered = x.clone().sub(x.mean_dim(D - 1));
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
    pub theta: f64,
}

/// What a block's attention is: heads, kv heads, head width, biases, QK-norm (rms, bias,
/// eps), RoPE base (0: none).
#[derive(Clone, Copy, Debug)]
pub struct AttnSpec {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub bias: bool,
    pub qk_norm: Option<(bool, bool, f64)>,
    pub theta: f64,
}

impl<B: Backend> Attention<B> {
    pub fn new(rng: &mut Rng, width: usize, a: AttnSpec, device: &B::Device) -> Self {
        let (h, kv, hd) = (a.heads, a.kv_heads, a.head_dim);
        let qk = |_: ()| a.qk_norm.map(|(rms, bias, eps)| Norm::new(hd, rms, bias, eps, device));
        Attention {
            q: linear(rng, width, h * hd, a.bias, device),
            k: linear(rng, width, kv * hd, a.bias, device),
            v: linear(rng, width, kv * hd, a.bias, device),
            o: linear(rng, h * hd, width, a.bias, device),
            q_norm: qk(()),
            k_norm: qk(()),
            heads: h,
            kv_heads: kv,
            head_dim: hd,
            theta: a.theta,
        }
    }

    /// `mask`: true where a position may NOT attend.
    ///
    /// `[b, s, width]`, `[b, s, s]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 3, Bool>) -> Tensor<B, 3> {
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
        if self.theta > 0.0 {
            q = rope(q, self.theta);
            k = rope(k, self.theta);
        }
        let group = |t: Tensor<B, 4>| {
            if kv == h {
                t
            } else {
                t.unsqueeze_dim::<5>(2).expand([b, kv, h / kv, s, hd]).reshape([b, h, s, hd])
            }
        };
        let (k, v) = (group(k), group(v));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt()); // [b, h, s, s]
        let scores = scores.mask_fill(mask.unsqueeze_dim::<4>(1).expand([b, h, s, s]), f32::NEG_INFINITY);
        let out = softmax(scores, 3).matmul(v); // [b, h, s, hd]
        self.o.forward(out.swap_dims(1, 2).reshape([b, s, h * hd]))
    }
}

/// Rotary positions, rotate-half layout (Llama, GPT-NeoX). `[b, h, s, hd]` -> same.
pub fn rope<B: Backend>(x: Tensor<B, 4>, theta: f64) -> Tensor<B, 4> {
    let [_, _, s, hd] = x.dims();
    let half = hd / 2;
    let device = x.device();
    let inv: Vec<f32> = (0..half).map(|i| (1.0 / theta.powf(2.0 * i as f64 / hd as f64)) as f32).collect();
    let pos: Vec<f32> = (0..s).map(|p| p as f32).collect();
    let angles = Tensor::<B, 1>::from_floats(pos.as_slice(), &device)
        .reshape([s, 1])
        .matmul(Tensor::<B, 1>::from_floats(inv.as_slice(), &device).reshape([1, half])); // [s, half]
    let angles = Tensor::cat(vec![angles.clone(), angles], 1); // [s, hd]
    let (cos, sin) = (angles.clone().cos().unsqueeze::<4>(), angles.sin().unsqueeze::<4>());
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x.mul(cos).add(rotated.mul(sin))
}

/// The MLP kinds of a block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MlpKind {
    Gelu,
    GeluTanh,
    Relu,
    Swiglu,
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
    pub fn new(rng: &mut Rng, width: usize, hidden: usize, kind: MlpKind, bias: bool, device: &B::Device) -> Self {
        Mlp {
            gate: (kind == MlpKind::Swiglu).then(|| linear(rng, width, hidden, bias, device)),
            up: linear(rng, width, hidden, bias, device),
            down: linear(rng, hidden, width, bias, device),
            kind: kind as usize,
        }
    }

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

/// Where a block's norms sit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Placement {
    Pre,
    Post,
    ResPost,
    Sandwich,
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

/// A block's shape: width, norm (rms, bias, eps), placement, attention, MLP (hidden, kind,
/// bias).
#[derive(Clone, Copy, Debug)]
pub struct BlockSpec {
    pub width: usize,
    pub norm: (bool, bool, f64),
    pub placement: Placement,
    pub attention: AttnSpec,
    pub mlp: (usize, MlpKind, bool),
}

impl<B: Backend> Block<B> {
    pub fn new(rng: &mut Rng, s: BlockSpec, device: &B::Device) -> Self {
        let (rms, bias, eps) = s.norm;
        let norm = || Norm::new(s.width, rms, bias, eps, device);
        let sandwich = s.placement == Placement::Sandwich;
        Block {
            attn_norm: norm(),
            attn: Attention::new(rng, s.width, s.attention, device),
            mlp_norm: norm(),
            mlp: Mlp::new(rng, s.width, s.mlp.0, s.mlp.1, s.mlp.2, device),
            attn_post_norm: sandwich.then(norm),
            mlp_post_norm: sandwich.then(norm),
            placement: s.placement as usize,
        }
    }

    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 3, Bool>) -> Tensor<B, 3> {
        match self.placement {
            1 => {
                let x = self.attn_norm.forward(x.clone() + self.attn.forward(x, mask));
                self.mlp_norm.forward(x.clone() + self.mlp.forward(x))
            }
            2 => {
                let x = x.clone() + self.attn_norm.forward(self.attn.forward(x, mask));
                x.clone() + self.mlp_norm.forward(self.mlp.forward(x))
            }
            3 => {
                let a = self.attn.forward(self.attn_norm.forward(x.clone()), mask);
                let a = self.attn_post_norm.as_ref().map_or(a.clone(), |n| n.forward(a));
                let x = x + a;
                let m = self.mlp.forward(self.mlp_norm.forward(x.clone()));
                let m = self.mlp_post_norm.as_ref().map_or(m.clone(), |n| n.forward(m));
                x + m
            }
            _ => {
                let x = x.clone() + self.attn.forward(self.attn_norm.forward(x), mask);
                x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
            }
        }
    }
}

/// An n-layer MLP: the activation between layers, none after the last.
pub fn stack<B: Backend>(linears: &[Linear<B>], a: Act, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let mut x = x;
    for (i, l) in linears.iter().enumerate() {
        x = l.forward(x);
        if i + 1 < linears.len() {
            x = act(a, x);
        }
    }
    x
}

/// Learned positions: rows 0..n of the table added. `[b, n, d]` -> `[b, n, d]`
pub fn add_positions<B: Backend>(x: Tensor<B, 3>, table: &Param<Tensor<B, 2>>) -> Tensor<B, 3> {
    let [b, n, d] = x.dims();
    x + table.val().narrow(0, 0, n).unsqueeze::<3>().expand([b, n, d])
}

/// Row lookup. `[b, n]` ids -> `[b, n, d]`
pub fn embed<B: Backend>(table: &Param<Tensor<B, 2>>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    let [b, n] = ids.dims();
    let t = table.val();
    let d = t.dims()[1];
    t.select(0, ids.reshape([b * n])).reshape([b, n, d])
}

/// A `next_scale` stem's code table and the `start` vector its first scale is fed.
#[derive(Module, Debug)]
pub struct NextScale<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub start: Param<Tensor<B, 1>>,
}

/// VAR's teacher-forced next-scale input (`next_scale.rs`): position r is fed
/// Σ M[r, c]·embed(ids)[c], the first scale's rows `start`. `[b, L]` ids -> `[b, L, d]`
pub fn next_scale<B: Backend>(m: &NextScale<B>, ids: Tensor<B, 2, Int>, sides: &[u64]) -> Result<Tensor<B, 3>, String> {
    let x = embed(&m.weight, ids); // [b, L, d]
    let [b, l, d] = x.dims();
    let rows: u64 = sides.iter().map(|s| s * s).sum();
    if rows != l as u64 {
        return Err(format!("a `next_scale` stem's scales cover {rows} rows, and the batch gives {l}"));
    }
    let device = x.device();
    let map = Tensor::<B, 2>::from_data(TensorData::new(crate::next_scale::next_scale_matrix(sides), [l, l]), &device); // [L, L]
    let first = crate::next_scale::first_scale_rows(sides);
    let is_first: Vec<f32> = (0..l).map(|r| if r < first { 1.0 } else { 0.0 }).collect();
    let is_first = Tensor::<B, 1>::from_data(TensorData::new(is_first, [l]), &device).reshape([1, l, 1]); // [1, L, 1]
    let fed = map.unsqueeze::<3>().expand([b, l, l]).matmul(x); // [b, L, d]
    Ok(fed + is_first.expand([b, l, d]) * m.start.val().reshape([1, 1, d]).expand([b, l, d]))
}

/// Mean next-token entropy (nats) over every position.
pub fn entropy<B: Backend>(logits: Tensor<B, 3>) -> f64 {
    let p = softmax(logits, 2);
    let e = p.clone().mul(p.clamp_min(1e-30).log()).sum_dim(2).neg().mean();
    let v: f32 = e.into_scalar().elem();
    f64::from(v)
}

use burn::tensor::ElementConversion;

/// Position t receives the state of t - shift; the first `shift` keep the original.
pub fn shifted<B: Backend>(state: Tensor<B, 3>, original: Tensor<B, 3>, shift: usize) -> Tensor<B, 3> {
    let n = state.dims()[1];
    if shift == 0 || n == 0 {
        return state;
    }
    let k = shift.min(n);
    let mut parts = vec![original.narrow(1, 0, k)];
    if n > k {
        parts.push(state.narrow(1, 0, n - k));
    }
    Tensor::cat(parts, 1)
}
