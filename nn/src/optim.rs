//! AdamW exactly as PyTorch's `torch.optim.AdamW` (single-tensor path, no amsgrad), with
//! the defaults stated here rather than burn's (burn 0.21's `AdamWConfig` has ε = 1e-5 and
//! weight decay 1e-4; PyTorch's are 1e-8 and 1e-2). Weight decay applies to matrices and
//! embeddings (parameters of rank ≥ 2), not to biases, norm gains or mask tokens — nanoGPT's
//! `configure_optimizers` grouping. State is held per `.arch` parameter name and saved in
//! PyTorch's layout under PyTorch's names (`{name}.exp_avg`, `{name}.exp_avg_sq`), so it
//! moves between archc's runtime, the generated Rust crate and the generated PyTorch.

use crate::params::{ParamVisitor, Parameters};
use crate::weights::{Saver, WeightError, Weights};
use burn::module::Param;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's `torch.optim.AdamW` defaults.
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
        }
    }
}

/// Linear warmup from 0 to `lr` over `warmup` steps, then cosine down to `min_lr` at
/// `total` (nanoGPT's `get_lr`). Steps count from 1.
pub fn scheduled_lr(step: u64, lr: f64, min_lr: f64, warmup: u64, total: u64) -> f64 {
    if step <= warmup && warmup > 0 {
        return lr * step as f64 / warmup as f64;
    }
    if step >= total || total <= warmup {
        return min_lr;
    }
    let ratio = (step - warmup) as f64 / (total - warmup) as f64;
    min_lr + 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos()) * (lr - min_lr)
}

/// A flattened tensor and the shape it is held in.
struct Flat<B: Backend> {
    t: Tensor<B, 1>,
    shape: Vec<usize>,
    transposed: bool,
}

/// Gradients by parameter name, summed over micro-batches, on the inner backend.
pub struct Grads<B: Backend> {
    by_name: BTreeMap<String, Flat<B>>,
}

impl<B: Backend> Default for Grads<B> {
    fn default() -> Self {
        Grads {
            by_name: BTreeMap::new(),
        }
    }
}

impl<B: Backend> Grads<B> {
    /// Adds `scale` × the gradients of a backward pass (parameters without one are skipped,
    /// as PyTorch skips parameters whose `.grad` is None).
    pub fn accumulate<A: AutodiffBackend<InnerBackend = B>, M: Parameters<A>>(
        &mut self,
        model: &M,
        grads: &A::Gradients,
        scale: f64,
    ) {
        let mut c = Collect {
            grads,
            into: self,
            scale,
        };
        let Ok(()) = model.clone().visit_params(&mut c);
    }

    /// The global L2 norm of all gradients.
    pub fn norm(&self) -> f64 {
        let total = self
            .by_name
            .values()
            .map(|g| (g.t.clone() * g.t.clone()).sum())
            .reduce(|a, b| a + b);
        match total {
            Some(t) => f64::from(burn::tensor::ElementConversion::elem::<f32>(
                t.into_scalar(),
            ))
            .sqrt(),
            None => 0.0,
        }
    }

    /// Scales every gradient so the global norm is at most `max` (PyTorch's
    /// `clip_grad_norm_`: coefficient max / (norm + 1e-6), clamped to 1). Returns the norm
    /// before clipping.
    pub fn clip(&mut self, max: f64) -> f64 {
        let norm = self.norm();
        let coef = max / (norm + 1e-6);
        if coef < 1.0 {
            for g in self.by_name.values_mut() {
                g.t = g.t.clone().mul_scalar(coef);
            }
        }
        norm
    }
}

struct Collect<'a, A: AutodiffBackend> {
    grads: &'a A::Gradients,
    into: &'a mut Grads<A::InnerBackend>,
    scale: f64,
}

impl<A: AutodiffBackend> ParamVisitor<A> for Collect<'_, A> {
    type Error = std::convert::Infallible;

    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<A, D>>,
        transposed: bool,
    ) -> Result<(), Self::Error> {
        let Some(g) = p.val().grad(self.grads) else {
            return Ok(());
        };
        let shape = g.dims().to_vec();
        let n: usize = shape.iter().product();
        let g = g.reshape([n]).mul_scalar(self.scale);
        match self.into.by_name.get_mut(name) {
            Some(acc) => acc.t = acc.t.clone() + g,
            None => {
                self.into.by_name.insert(
                    name.to_string(),
                    Flat {
                        t: g,
                        shape,
                        transposed,
                    },
                );
            }
        }
        Ok(())
    }
}

/// AdamW's state: the step count and the moments per parameter name.
pub struct AdamW<B: Backend> {
    pub config: AdamWConfig,
    /// Updates taken (PyTorch's `state["step"]`).
    pub t: u64,
    moments: BTreeMap<String, (Flat<B>, Flat<B>)>,
}

impl<B: Backend> AdamW<B> {
    pub fn new(config: AdamWConfig) -> Self {
        AdamW {
            config,
            t: 0,
            moments: BTreeMap::new(),
        }
    }

    /// One update of every parameter that has a gradient, at learning rate `lr`.
    pub fn step<A: AutodiffBackend<InnerBackend = B>, M: Parameters<A>>(
        &mut self,
        model: M,
        grads: &Grads<B>,
        lr: f64,
    ) -> M {
        self.t += 1;
        let mut model = model;
        let mut u = Update {
            opt: self,
            grads,
            lr,
        };
        let Ok(()) = model.visit_params(&mut u);
        model
    }

    /// The moments as a safetensors file, PyTorch layout and names.
    pub fn save(&self) -> Vec<u8> {
        let mut out = Saver::default();
        for (name, (m, v)) in &self.moments {
            for (suffix, f) in [("exp_avg", m), ("exp_avg_sq", v)] {
                let (shape, data) = to_torch(f);
                out.put_raw(format!("{name}.{suffix}"), shape, data);
            }
        }
        out.to_bytes()
    }

    /// Loads the moments saved by [`AdamW::save`] for this model's parameters: every
    /// saved tensor must be a parameter's moment of its shape, and nothing else may be in
    /// the file. `t` is the update count the checkpoint recorded.
    pub fn load<A: AutodiffBackend<InnerBackend = B>, M: Parameters<A>>(
        config: AdamWConfig,
        t: u64,
        model: &M,
        bytes: &[u8],
        device: &B::Device,
    ) -> Result<Self, WeightError> {
        let mut w = Weights::from_bytes(bytes)?;
        let mut shapes = ShapeOf::default();
        let Ok(()) = model.clone().visit_params(&mut shapes);
        let mut moments = BTreeMap::new();
        for (name, (shape, transposed)) in shapes.0 {
            let key = format!("{name}.exp_avg");
            if !w.contains(&key) {
                continue; // a parameter that has had no gradient yet
            }
            let torch: Vec<usize> = if transposed {
                shape.iter().rev().copied().collect()
            } else {
                shape.clone()
            };
            let mut pair = Vec::new();
            for suffix in ["exp_avg", "exp_avg_sq"] {
                let data = w.take_raw(&format!("{name}.{suffix}"), &torch)?;
                pair.push(from_torch(data, &shape, transposed, device));
            }
            let v = pair.pop().expect("two moments");
            let m = pair.pop().expect("two moments");
            moments.insert(name, (m, v));
        }
        w.finish()?;
        Ok(AdamW { config, t, moments })
    }
}

#[derive(Default)]
struct ShapeOf(BTreeMap<String, (Vec<usize>, bool)>);

impl<A: Backend> ParamVisitor<A> for ShapeOf {
    type Error = std::convert::Infallible;
    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<A, D>>,
        transposed: bool,
    ) -> Result<(), Self::Error> {
        self.0
            .insert(name.to_string(), (p.val().dims().to_vec(), transposed));
        Ok(())
    }
}

/// Host copy in PyTorch's layout ([out, in] for a linear weight held [in, out]).
fn to_torch<B: Backend>(f: &Flat<B>) -> (Vec<usize>, Vec<f32>) {
    let data: Vec<f32> =
        f.t.clone()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
    if f.transposed && f.shape.len() == 2 {
        let (i, o) = (f.shape[0], f.shape[1]);
        let mut out = vec![0.0; data.len()];
        for r in 0..i {
            for c in 0..o {
                out[c * i + r] = data[r * o + c];
            }
        }
        (vec![o, i], out)
    } else {
        (f.shape.clone(), data)
    }
}

fn from_torch<B: Backend>(
    data: Vec<f32>,
    held: &[usize],
    transposed: bool,
    device: &B::Device,
) -> Flat<B> {
    let n = data.len();
    let data = if transposed && held.len() == 2 {
        let (i, o) = (held[0], held[1]);
        let mut out = vec![0.0; n];
        for r in 0..i {
            for c in 0..o {
                out[r * o + c] = data[c * i + r];
            }
        }
        out
    } else {
        data
    };
    Flat {
        t: Tensor::from_data(TensorData::new(data, [n]), device),
        shape: held.to_vec(),
        transposed,
    }
}

struct Update<'a, B: Backend> {
    opt: &'a mut AdamW<B>,
    grads: &'a Grads<B>,
    lr: f64,
}

impl<A: AutodiffBackend> ParamVisitor<A> for Update<'_, A::InnerBackend> {
    type Error = std::convert::Infallible;

    fn visit<const D: usize>(
        &mut self,
        name: &str,
        p: &mut Param<Tensor<A, D>>,
        transposed: bool,
    ) -> Result<(), Self::Error> {
        let Some(g) = self.grads.by_name.get(name) else {
            return Ok(());
        };
        let c = &self.opt.config;
        let (lr, t) = (self.lr, self.opt.t as i32);
        let w = p.val().inner();
        let dims = w.dims();
        let n: usize = dims.iter().product();
        let mut w = w.reshape([n]);
        if D >= 2 && c.weight_decay != 0.0 {
            w = w.mul_scalar(1.0 - lr * c.weight_decay);
        }
        let g = g.t.clone();
        let (m, v) = match self.opt.moments.remove(name) {
            Some((m, v)) => (m.t, v.t),
            None => (g.zeros_like(), g.zeros_like()),
        };
        let m = m.mul_scalar(c.beta1) + g.clone().mul_scalar(1.0 - c.beta1);
        let v = v.mul_scalar(c.beta2) + (g.clone() * g).mul_scalar(1.0 - c.beta2);
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(c.eps);
        let w = w - m.clone().div(denom).mul_scalar(lr / bc1);
        let shape = dims.to_vec();
        self.opt.moments.insert(
            name.to_string(),
            (
                Flat {
                    t: m,
                    shape: shape.clone(),
                    transposed,
                },
                Flat {
                    t: v,
                    shape,
                    transposed,
                },
            ),
        );
        *p = Param::initialized(p.id, Tensor::from_inner(w.reshape(dims)).require_grad());
        Ok(())
    }
}
