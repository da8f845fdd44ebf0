//! Exact parameter counts of published models.

use crate::common::check_clean;
use archc::analyze::count_params;

fn total(rel: &str) -> u128 {
    let checked = check_clean(rel, &archc::CheckOptions::default());
    count_params(checked.graph.as_ref().expect("clean file has a graph")).total
}

/// Source: Hugging Face `GPT2LMHeadModel.from_pretrained("gpt2")`,
/// `sum(p.numel() for p in model.parameters())` = 124,439,808 (lm_head tied to wte).
#[test]
fn gpt2_small_is_124_439_808() {
    assert_eq!(total("models/gpt2-small.arch"), 124_439_808);
}

/// Source: Llama 2 paper (Touvron et al. 2023) / HF `meta-llama/Llama-2-7b-hf`,
/// `model.num_parameters()` = 6,738,415,616 (untied lm_head).
#[test]
fn llama2_7b_is_6_738_415_616() {
    assert_eq!(total("models/llama2-7b.arch"), 6_738_415_616);
}
