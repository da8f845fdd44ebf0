//! MAR's per-token diffusion loss (Li et al. 2024, "Autoregressive Image Generation without
//! Vector Quantization", `models/diffloss.py`): a small MLP (`SimpleMLPAdaLN`) predicts the
//! noise added to one target token, conditioned on the head's hidden state and the
//! timestep. Sizes are the ones `archc build` counts (compiler/src/analyze/params.rs).

use crate::layers::{linear, Norm};
use crate::rng::Rng;
use crate::spec::{NormKind, NormSpec};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::silu;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// Width of the sinusoidal timestep embedding (DiT's `frequency_embedding_size`).
pub const FREQ_DIM: usize = 256;

#[derive(Module, Debug)]
pub struct ResBlock<B: Backend> {
    pub norm: Norm<B>,
    pub mlp_in: Linear<B>,
    pub mlp_out: Linear<B>,
    pub ada: Linear<B>,
}

#[derive(Module, Debug)]
pub struct DiffusionMlp<B: Backend> {
    pub time_in: Linear<B>,
    pub time_out: Linear<B>,
    pub cond: Linear<B>,
    pub input: Linear<B>,
    pub blocks: Vec<ResBlock<B>>,
    pub final_ada: Linear<B>,
    pub final_linear: Linear<B>,
    /// The target token's width d (the output is 2d: noise and, unused here, sigma).
    pub dim: usize,
    /// Diffusion timesteps T of the training schedule.
    pub steps: usize,
}

fn zeroed<B: Backend>(l: Linear<B>) -> Linear<B> {
    let w = l.weight.val();
    Linear {
        weight: Param::from_tensor(w.zeros_like()),
        bias: l.bias.map(|b| Param::from_tensor(b.val().zeros_like())),
    }
}

impl<B: Backend> DiffusionMlp<B> {
    /// `d` the target token width, `z` the condition (head hidden) width, `w` the MLP
    /// width. Linear maps U(±1/√in); as in MAR (DiT), the adaLN modulations and the final
    /// linear map start at zero, so the first prediction is zero noise.
    pub fn new(
        rng: &mut Rng,
        d: usize,
        z: usize,
        w: usize,
        layers: usize,
        steps: usize,
        device: &B::Device,
    ) -> Self {
        let ln = NormSpec {
            kind: NormKind::Layer { bias: true },
            eps: 1e-6,
        };
        DiffusionMlp {
            time_in: linear(rng, FREQ_DIM, w, true, device),
            time_out: linear(rng, w, w, true, device),
            cond: linear(rng, z, w, true, device),
            input: linear(rng, d, w, true, device),
            blocks: (0..layers)
                .map(|_| ResBlock {
                    norm: Norm::new(ln, w, device),
                    mlp_in: linear(rng, w, w, true, device),
                    mlp_out: linear(rng, w, w, true, device),
                    ada: zeroed(linear(rng, w, 3 * w, true, device)),
                })
                .collect(),
            final_ada: zeroed(linear(rng, w, 2 * w, true, device)),
            final_linear: zeroed(linear(rng, w, 2 * d, true, device)),
            dim: d,
            steps,
        }
    }

    /// # Shapes
    /// x_t `[n, d]`, t `[n]` (timesteps as floats), c `[n, z]` -> `[n, 2d]`
    pub fn forward(&self, x: Tensor<B, 2>, t: Tensor<B, 1>, c: Tensor<B, 2>) -> Tensor<B, 2> {
        let temb = self
            .time_out
            .forward(silu(self.time_in.forward(timestep_embedding(t)))); // [n, w]
        let y = silu(temb + self.cond.forward(c)); // [n, w]
        let mut h = self.input.forward(x); // [n, w]
        for b in &self.blocks {
            let mods = b.ada.forward(y.clone()).chunk(3, 1); // 3 x [n, w]
            let (shift, scale, gate) = (mods[0].clone(), mods[1].clone(), mods[2].clone());
            let hh = b.norm.forward(h.clone()) * (scale + 1.0) + shift;
            let hh = b.mlp_out.forward(silu(b.mlp_in.forward(hh)));
            h = h + gate * hh;
        }
        let mods = self.final_ada.forward(y).chunk(2, 1);
        let (shift, scale) = (mods[0].clone(), mods[1].clone());
        self.final_linear
            .forward(layer_norm(h) * (scale + 1.0) + shift)
    }

    /// The ε-prediction loss of one batch of target tokens: t ~ U{0..T-1}, ε ~ N(0, I),
    /// x_t = √ᾱ_t x + √(1 − ᾱ_t) ε, mean over tokens of ‖ε̂ − ε‖² / d. MAR adds a
    /// variational term for the learned sigma half of the output; that term is not
    /// computed here (docs/semantics.md), so the sigma half receives no gradient.
    ///
    /// # Shapes
    /// x `[n, d]`, c `[n, z]` -> `[1]`
    pub fn loss(&self, x: Tensor<B, 2>, c: Tensor<B, 2>, rng: &mut Rng) -> Tensor<B, 1> {
        let [n, d] = x.dims();
        let device = x.device();
        let bar = alphas_cumprod(self.steps);
        let ts: Vec<usize> = (0..n).map(|_| rng.below(self.steps)).collect();
        let a: Vec<f32> = ts.iter().map(|&t| bar[t].sqrt() as f32).collect();
        let s: Vec<f32> = ts.iter().map(|&t| (1.0 - bar[t]).sqrt() as f32).collect();
        let eps: Vec<f32> = (0..n * d).map(|_| rng.normal() as f32).collect();
        let col = |v: Vec<f32>| Tensor::<B, 2>::from_data(TensorData::new(v, [n, 1]), &device);
        let eps = Tensor::<B, 2>::from_data(TensorData::new(eps, [n, d]), &device);
        let xt = x * col(a) + eps.clone() * col(s);
        let t = Tensor::<B, 1>::from_data(
            TensorData::new(ts.iter().map(|&t| t as f32).collect::<Vec<_>>(), [n]),
            &device,
        );
        let pred = self.forward(xt, t, c).narrow(1, 0, d); // [n, d]
        (pred - eps).powi_scalar(2).mean().reshape([1])
    }
}

/// LayerNorm without affine parameters (MAR's `norm_final`, eps 1e-6).
fn layer_norm<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let mean = x.clone().mean_dim(1);
    let c = x - mean;
    let var = c.clone().powi_scalar(2).mean_dim(1);
    c / (var + 1e-6).sqrt()
}

/// DiT's sinusoidal embedding: [cos(t·f_i), sin(t·f_i)], f_i = 10000^(−i/128).
///
/// # Shapes
/// `[n]` -> `[n, 256]`
pub fn timestep_embedding<B: Backend>(t: Tensor<B, 1>) -> Tensor<B, 2> {
    let [n] = t.dims();
    let half = FREQ_DIM / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let f = Tensor::<B, 1>::from_floats(freqs.as_slice(), &t.device()).reshape([1, half]);
    let args = t.reshape([n, 1]).matmul(f); // [n, half]
    Tensor::cat(vec![args.clone().cos(), args.sin()], 1)
}

/// ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021, as MAR's `gaussian_diffusion.py`):
/// β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), 0.999), ᾱ(s) = cos²((s + 0.008)/1.008 · π/2).
pub fn alphas_cumprod(steps: usize) -> Vec<f64> {
    let f = |s: f64| {
        ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
            .cos()
            .powi(2)
    };
    let mut out = Vec::with_capacity(steps);
    let mut acc = 1.0;
    for i in 0..steps {
        let beta = (1.0 - f((i + 1) as f64 / steps as f64) / f(i as f64 / steps as f64)).min(0.999);
        acc *= 1.0 - beta;
        out.push(acc);
    }
    out
}
