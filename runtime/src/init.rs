//! Parameter initialisation from the runtime's own seeded generator, so the same seed
//! gives the same model on any backend and whatever else runs in the process (burn's
//! NdArray RNG is one global shared by every thread).

use burn::module::Param;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// SplitMix64, with Box-Muller for normals.
pub struct Init {
    state: u64,
}

impl Init {
    pub fn new(seed: u64) -> Self {
        Init {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// U(-k, k) of a shape (PyTorch's and burn's default for linear maps: k = 1/sqrt(in)).
    pub fn uniform<B: Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        k: f64,
        device: &B::Device,
    ) -> Param<Tensor<B, D>> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| ((self.unit() * 2.0 - 1.0) * k) as f32)
            .collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
    }

    /// N(0, std²) of a shape.
    pub fn normal_tensor<B: Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        std: f64,
        device: &B::Device,
    ) -> Param<Tensor<B, D>> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| (self.normal() * std) as f32).collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
    }
}
