//! Lowers archc's checked graph (IR) to burn modules at run time and runs them.
//! In progress (issue 5): text-token models end to end; see docs/runtime.md.

pub mod batch;
pub mod device;
pub mod forward;
pub mod init;
pub mod layers;
pub mod model;
pub mod weights;
