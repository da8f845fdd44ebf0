//! The layers every archc model is made of (archc's docs/semantics.md says what each
//! computes; the generated PyTorch model computes the same). Weights are held in burn's
//! layout (`[in, out]` for linear maps) and named, loaded and saved in PyTorch's
//! (`crate::params`).

mod attention;
mod block;
mod mlp;
mod norm;
mod ops;

pub use attention::{rope, Attention};
pub use block::Block;
pub use mlp::Mlp;
pub use norm::Norm;
pub use ops::*;
