//! Lowers archc's checked graph (IR) to burn modules at run time and runs them.
//! Every construct of the language runs (docs/semantics.md); the batch format and weight
//! names are in docs/runtime.md.
//! The layers, the batch and its masks, parameter walks, weights files, AdamW, the data
//! readers, the trainer, the generator and the checkpoint format are `archc-nn`'s, shared with the generated Rust
//! crate; this crate keeps what is dynamic: the graph lowered and walked, loops, caches.

pub use archc_nn::{
    batch, checkpoint, data, diffusion, layers, metrics, optim, rng, settings, weights,
};
mod apply;
pub mod decode;
pub mod device;
pub mod draws;
pub mod eval;
pub mod forward;
pub mod lower;
pub mod model;
pub mod objectives;
pub mod params;
pub mod sample;
pub mod train;
