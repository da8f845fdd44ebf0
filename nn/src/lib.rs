//! archc's model stack over burn 0.21: the layers of every archc model, the batch layout
//! and its attention masks, each head's objective, the training draws, parameters by
//! `.arch` name, weights files, AdamW with its schedule and clipping, the data readers, the
//! trainer with its settings and metrics, and the checkpoint format. archc's runtime builds its per-node modules
//! from these types, and `archc gen rust` ships this crate inside the project it writes,
//! so a layer is implemented once in Rust (and once in PyTorch, by the PyTorch emitter).
//! Depends on burn only, never on the compiler: what to build comes as the plain specs of
//! [`spec`].

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod diffusion;
pub mod draws;
mod init;
pub mod layers;
pub mod metrics;
pub mod next_scale;
pub mod objectives;
pub mod optim;
pub mod params;
pub mod rng;
pub mod settings;
pub mod spec;
pub mod train;
pub mod weights;
