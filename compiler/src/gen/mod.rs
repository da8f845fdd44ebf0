//! Code generators: the checked graph as a standalone PyTorch project (`torch.rs`) or a
//! standalone Rust crate over burn (`rust.rs`). The
//! output is a function of the graph only — the same bytes on every run — and no name or
//! number of a `.arch` file can reach the output except as an escaped literal or a
//! checked identifier (`names.rs`).

pub mod names;
pub mod rust;
pub mod torch;
mod vendor;

pub use rust::graph_to_rust;
pub use torch::graph_to_torch;

/// One generated file: its path inside the output directory and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenFile {
    pub path: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// The graph has something the generator does not emit (a message naming it).
    Unsupported(String),
}

impl std::fmt::Display for GenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenError::Unsupported(s) => write!(f, "cannot generate code for this model: {s}"),
        }
    }
}

impl std::error::Error for GenError {}
