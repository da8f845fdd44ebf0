//! The stateless pieces: linear maps at init, activations, MLP stacks, lookups, positions,
//! the loops' shift and the entropy gate.

use crate::rng::Rng;
use crate::spec::{Act, StackSpec};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu, silu, softmax};
use burn::tensor::{backend::Backend, Bool, ElementConversion, Int, Tensor};

/// A linear map `input -> out`, weights U(-k, k) with k = 1/sqrt(input) (PyTorch's default).
pub fn linear<B: Backend>(
    rng: &mut Rng,
    input: usize,
    out: usize,
    bias: bool,
    device: &B::Device,
) -> Linear<B> {
    let k = 1.0 / (input as f64).sqrt();
    Linear {
        weight: rng.uniform([input, out], k, device),
        bias: bias.then(|| rng.uniform([out], k, device)),
    }
}

/// The linear maps of a [`StackSpec`], drawn first to last.
pub fn stack_linears<B: Backend>(
    rng: &mut Rng,
    s: &StackSpec,
    device: &B::Device,
) -> Vec<Linear<B>> {
    let mut w = s.input;
    (0..s.layers)
        .map(|i| {
            let out = if i + 1 == s.layers { s.out } else { s.hidden };
            let l = linear(rng, w, out, s.bias, device);
            w = out;
            l
        })
        .collect()
}

pub fn act<B: Backend, const D: usize>(a: Act, x: Tensor<B, D>) -> Tensor<B, D> {
    match a {
        Act::Gelu => gelu(x),
        Act::Relu => relu(x),
        Act::Silu => silu(x),
        Act::Tanh => x.tanh(),
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

/// An n-layer MLP: the activation between layers, none after the last.
///
/// # Shapes
/// `[b, n, input]` -> `[b, n, out]`
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

/// Row lookup.
///
/// # Shapes
/// table `[vocab, d]`, ids `[b, n]` -> `[b, n, d]`
pub fn embed<B: Backend>(table: &Param<Tensor<B, 2>>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    let [b, n] = ids.dims();
    let t = table.val();
    let d = t.dims()[1];
    t.select(0, ids.reshape([b * n])).reshape([b, n, d])
}

/// Learned positions: rows 0..n of the table added; more positions than the table has
/// rows is an error naming both.
///
/// # Shapes
/// `[b, n, d]`, table `[max_len, d]` -> `[b, n, d]`
pub fn add_positions<B: Backend>(
    x: Tensor<B, 3>,
    table: &Param<Tensor<B, 2>>,
) -> Result<Tensor<B, 3>, String> {
    add_positions_from(x, table, 0)
}

/// Learned positions for rows that start at position `start` (a decoder's new rows):
/// rows start..start + n of the table added.
///
/// # Shapes
/// `[b, n, d]`, table `[max_len, d]` -> `[b, n, d]`
pub fn add_positions_from<B: Backend>(
    x: Tensor<B, 3>,
    table: &Param<Tensor<B, 2>>,
    start: usize,
) -> Result<Tensor<B, 3>, String> {
    let [b, n, d] = x.dims();
    let t = table.val();
    let max = t.dims()[0];
    if start + n > max {
        return Err(format!(
            "{} positions are more than the position table has ({max})",
            start + n
        ));
    }
    Ok(x + t.narrow(0, start, n).unsqueeze::<3>().expand([b, n, d]))
}

/// Rows replaced by a learned mask token where `masked` is true.
///
/// # Shapes
/// `[b, s, d]`, token `[d]`, masked `[b, s]` -> `[b, s, d]`
pub fn mask_rows<B: Backend>(
    x: Tensor<B, 3>,
    token: &Param<Tensor<B, 1>>,
    masked: Tensor<B, 2, Bool>,
) -> Tensor<B, 3> {
    let [b, s, d] = x.dims();
    let token = token.val().unsqueeze::<3>().expand([b, s, d]);
    x.mask_where(masked.unsqueeze_dim::<3>(2).expand([b, s, d]), token)
}

/// A tied projection: the embedding table, transposed.
///
/// # Shapes
/// `[b, n, d]`, table `[vocab, d]` -> `[b, n, vocab]`
pub fn tied<B: Backend>(x: Tensor<B, 3>, table: &Param<Tensor<B, 2>>) -> Tensor<B, 3> {
    x.matmul(table.val().transpose().unsqueeze::<3>())
}

/// Mean next-token entropy (nats) over every position: a loop's gate.
pub fn entropy<B: Backend>(logits: Tensor<B, 3>) -> f64 {
    let p = softmax(logits, 2);
    let e = p
        .clone()
        .mul(p.clamp_min(1e-30).log())
        .sum_dim(2)
        .neg()
        .mean();
    let v: f32 = e.into_scalar().elem();
    f64::from(v)
}

/// Position t receives the state of t - shift; the first `shift` keep the original.
///
/// # Shapes
/// `[b, n, d]` ×2 -> `[b, n, d]`
pub fn shifted<B: Backend>(
    state: Tensor<B, 3>,
    original: Tensor<B, 3>,
    shift: usize,
) -> Tensor<B, 3> {
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

/// A causal mask: true above the diagonal (a position may not see later ones).
///
/// # Shapes
/// -> `[b, s, s]`
pub fn causal_mask<B: Backend>(b: usize, s: usize, device: &B::Device) -> Tensor<B, 3, Bool> {
    Tensor::<B, 2, Bool>::tril_mask([s, s], 0, device)
        .unsqueeze::<3>()
        .expand([b, s, s])
}
