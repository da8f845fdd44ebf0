//! LayerNorm and RMSNorm over the last dimension.

use crate::spec::{NormKind, NormSpec};
use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor};

/// `weight` ones and `bias` (LayerNorm with a bias only) zeros at init.
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    pub kind: NormKind,
    pub eps: f64,
}

impl<B: Backend> Norm<B> {
    pub fn new(spec: NormSpec, width: usize, device: &B::Device) -> Self {
        let bias = matches!(spec.kind, NormKind::Layer { bias: true });
        Norm {
            weight: Param::from_tensor(Tensor::ones([width], device)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([width], device))),
            kind: spec.kind,
            eps: spec.eps,
        }
    }

    /// # Shapes
    /// `[.., width]` -> `[.., width]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = match self.kind {
            NormKind::Rms => {
                let ms = (x.clone() * x.clone()).mean_dim(D - 1);
                x.div((ms + self.eps).sqrt())
            }
            NormKind::Layer { .. } => {
                let mean = x.clone().mean_dim(D - 1);
                let centered = x.sub(mean);
                let var = (centered.clone() * centered.clone()).mean_dim(D - 1);
                centered.div((var + self.eps).sqrt())
            }
        };
        let x = x.mul(self.weight.val().unsqueeze());
        match &self.bias {
            Some(b) => x.add(b.val().unsqueeze()),
            None => x,
        }
    }
}
