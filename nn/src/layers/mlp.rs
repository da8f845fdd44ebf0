//! A block's MLP.

use super::ops::{gelu_tanh, linear};
use crate::rng::Rng;
use crate::spec::{MlpKind, MlpSpec};
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::{gelu, relu, silu};
use burn::tensor::{backend::Backend, Tensor};

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// SwiGLU's gate.
    pub gate: Option<Linear<B>>,
    pub up: Linear<B>,
    pub down: Linear<B>,
    #[module(skip)]
    pub kind: MlpKind,
}

impl<B: Backend> Mlp<B> {
    /// Draws gate (SwiGLU), up, down.
    pub fn new(rng: &mut Rng, s: MlpSpec, width: usize, device: &B::Device) -> Self {
        Mlp {
            gate: (s.kind == MlpKind::Swiglu).then(|| linear(rng, width, s.hidden, s.bias, device)),
            up: linear(rng, width, s.hidden, s.bias, device),
            down: linear(rng, s.hidden, width, s.bias, device),
            kind: s.kind,
        }
    }

    /// # Shapes
    /// `[b, s, width]` -> `[b, s, width]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = match self.kind {
            MlpKind::Gelu => gelu(self.up.forward(x)),
            MlpKind::GeluTanh => gelu_tanh(self.up.forward(x)),
            MlpKind::Relu => relu(self.up.forward(x)),
            // `new` draws a gate for every SwiGLU MLP.
            MlpKind::Swiglu => match &self.gate {
                Some(gate) => silu(gate.forward(x.clone())).mul(self.up.forward(x)),
                None => self.up.forward(x),
            },
        }; // [b, s, hidden]
        self.down.forward(h)
    }
}
