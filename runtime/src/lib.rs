//! Lowers archc's checked graph (IR) to burn modules at run time and runs them.
//! Every construct of the language runs (docs/semantics.md); the batch format and weight
//! names are in docs/runtime.md.

pub mod batch;
/// The checkpoint format, one source for the runtime and the generated Rust crate (which
/// carries a copy of this file, so it must not depend on the rest of the runtime).
#[path = "../../compiler/src/gen/rust/checkpoint.rs"]
pub mod checkpoint;
pub mod data;
pub mod decode;
pub mod device;
pub mod diffusion;
pub mod draws;
pub mod eval;
pub mod forward;
pub mod init;
pub mod layers;
pub mod model;
pub mod objectives;
pub mod optim;
pub mod params;
pub mod rng;
pub mod train;
pub mod weights;
