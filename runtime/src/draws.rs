//! The model's training draws, read off the plan; drawing them is `archc_nn::draws`'
//! (docs/semantics.md, "Training draws").

use crate::batch::Batch;
use crate::model::Plan;
use crate::rng::Rng;
pub use archc_nn::draws::{causal_examples, draw_passes, Drawn, RECURRENCE_SIGMA};
use burn::tensor::backend::Backend;

/// Fills `batch.masked` and `batch.steps` with this step's draws and returns them
/// (`archc_nn::draws::draw_for_training`).
pub fn draw_for_training<B: Backend>(plan: &Plan, batch: &mut Batch<B>, rng: &mut Rng) -> Drawn {
    archc_nn::draws::draw_for_training(&plan.draws, batch, rng)
}
