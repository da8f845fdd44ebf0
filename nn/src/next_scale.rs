//! VAR's teacher-forced next-scale input (Tian et al. 2024, arXiv 2404.02905; reference
//! code: FoundationVision/VAR, `VQVAE.idxBl_to_var_input`) as one fixed linear map over a
//! `next_scale` stem's rows, and the stem module that feeds it.
//!
//! The rows are the codes of scales of sides s_0 < s_1 < ... < s_{n-1} = S, row-major,
//! coarsest first. Position (k, y, x) is fed
//!
//! ```text
//! area_k( Σ_{j<k} bicubic_j(E_j) )
//! ```
//!
//! where E_j is scale j's embedded codes, `bicubic_j` PyTorch's
//! `interpolate(mode = "bicubic", align_corners = False)` from s_j to S, and `area_k`
//! `interpolate(mode = "area")` (adaptive average pooling) from S to s_k. Scale 0 is fed
//! nothing from the codes (the stem adds its `start` vector there). VAR also passes each
//! upsampled scale through a learned 3x3 convolution (`quant_resi`); that is left out.

use crate::layers::embed;
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

/// A `next_scale` stem's code table and the `start` vector its first scale is fed
/// (`{stem}.embed.weight`, `{stem}.embed.start`).
#[derive(Module, Debug)]
pub struct NextScale<B: Backend> {
    pub weight: Param<Tensor<B, 2>>,
    pub start: Param<Tensor<B, 1>>,
}

impl<B: Backend> NextScale<B> {
    /// The stem's input for codes `ids` laid out scale by scale.
    ///
    /// # Shapes
    /// `[b, L]` ids -> `[b, L, d]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, sides: &[u64]) -> Result<Tensor<B, 3>, String> {
        next_scale_input(embed(&self.weight, ids), self.start.val(), sides)
    }
}

/// Position r is fed Σ M[r, c]·x[c] ([`next_scale_matrix`]), the first scale's rows the
/// `start` vector.
///
/// # Shapes
/// x `[b, L, d]` embedded codes, start `[d]` -> `[b, L, d]`
pub fn next_scale_input<B: Backend>(
    x: Tensor<B, 3>,
    start: Tensor<B, 1>,
    sides: &[u64],
) -> Result<Tensor<B, 3>, String> {
    let [b, l, d] = x.dims();
    let rows: u64 = sides.iter().map(|s| s * s).sum();
    if rows != l as u64 {
        return Err(format!(
            "a `next_scale` stem's scales cover {rows} rows, and the batch gives {l}"
        ));
    }
    let device = x.device();
    let m = Tensor::<B, 2>::from_data(TensorData::new(next_scale_matrix(sides), [l, l]), &device); // [L, L]
    let first = first_scale_rows(sides);
    let is_first: Vec<f32> = (0..l).map(|r| if r < first { 1.0 } else { 0.0 }).collect();
    let is_first =
        Tensor::<B, 1>::from_data(TensorData::new(is_first, [l]), &device).reshape([1, l, 1]); // [1, L, 1]
    let fed = m.unsqueeze::<3>().expand([b, l, l]).matmul(x); // [b, L, d]
    Ok(fed + is_first.expand([b, l, d]) * start.reshape([1, 1, d]).expand([b, l, d]))
}

/// The map as a row-major `[L, L]` matrix, L = Σ s²: row r holds the weights of every
/// row's embedding in position r's input. Each row of scale k > 0 sums to k; it has
/// nonzero weights only on rows of scales < k.
pub fn next_scale_matrix(sides: &[u64]) -> Vec<f32> {
    let sides: Vec<usize> = sides.iter().map(|&s| s as usize).collect();
    let l: usize = sides.iter().map(|s| s * s).sum();
    let mut m = vec![0f32; l * l];
    let Some(&big) = sides.last() else {
        return m;
    };
    let offsets: Vec<usize> = sides
        .iter()
        .scan(0, |o, s| {
            let at = *o;
            *o += s * s;
            Some(at)
        })
        .collect();
    for (k, &sk) in sides.iter().enumerate().skip(1) {
        // [sk, big]: the area pooling from the finest side down to scale k.
        let down = area(big, sk);
        for (j, &sj) in sides.iter().enumerate().take(k) {
            // [big, sj]: the bicubic upsampling of scale j to the finest side.
            let up = bicubic(sj, big);
            // [sk, sj]: both, one axis (the 2-d map is its outer product with itself).
            let mut a = vec![0f64; sk * sj];
            for i in 0..sk {
                for t in 0..big {
                    let w = down[i * big + t];
                    if w != 0.0 {
                        for c in 0..sj {
                            a[i * sj + c] += w * up[t * sj + c];
                        }
                    }
                }
            }
            for (y, x) in (0..sk).flat_map(|y| (0..sk).map(move |x| (y, x))) {
                let row = offsets[k] + y * sk + x;
                for (yy, xx) in (0..sj).flat_map(|y| (0..sj).map(move |x| (y, x))) {
                    let col = offsets[j] + yy * sj + xx;
                    m[row * l + col] = (a[y * sj + yy] * a[x * sj + xx]) as f32;
                }
            }
        }
    }
    m
}

/// How many rows the first scale holds: those fed the `start` vector.
pub fn first_scale_rows(sides: &[u64]) -> usize {
    sides.first().map_or(0, |&s| (s * s) as usize)
}

/// `[out, inp]` weights of PyTorch's 1-d area interpolation (adaptive average pooling):
/// output i averages inputs floor(i·inp/out) .. ceil((i+1)·inp/out).
fn area(inp: usize, out: usize) -> Vec<f64> {
    let mut w = vec![0f64; out * inp];
    for i in 0..out {
        let lo = i * inp / out;
        let hi = ((i + 1) * inp).div_ceil(out);
        for t in lo..hi {
            w[i * inp + t] = 1.0 / (hi - lo) as f64;
        }
    }
    w
}

/// `[out, inp]` weights of PyTorch's 1-d bicubic interpolation with `align_corners =
/// False` (A = -0.75, source index (i + 0.5)·inp/out − 0.5, the four taps clamped to the
/// border), as in ATen's `upsample_bicubic2d`.
fn bicubic(inp: usize, out: usize) -> Vec<f64> {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = inp as f64 / out as f64;
    let mut w = vec![0f64; out * inp];
    for i in 0..out {
        let src = scale * (i as f64 + 0.5) - 0.5;
        let base = src.floor();
        let t = src - base;
        let coeffs = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
        for (tap, c) in coeffs.iter().enumerate() {
            let at = (base as i64 - 1 + tap as i64).clamp(0, inp as i64 - 1) as usize;
            w[i * inp + at] += c;
        }
    }
    w
}
