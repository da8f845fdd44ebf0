//! Parameters drawn from archc's [`Rng`] (so the same seed gives the same model on any
//! backend).

use crate::rng::Rng;
use burn::module::Param;
use burn::tensor::{backend::Backend, Tensor, TensorData};

impl Rng {
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
    pub fn normal_param<B: Backend, const D: usize>(
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
