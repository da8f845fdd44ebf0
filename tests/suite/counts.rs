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

/// COCONUT on GPT-2: HF GPT-2 small (124,439,808, above) with its token embedding resized
/// by the three latent-control tokens COCONUT adds (`<|start-latent|>`, `<|end-latent|>`,
/// `<|latent|>`; facebookresearch/coconut `run.py`): + 3 x 768 = 124,442,112.
#[test]
fn coconut_gpt2_is_gpt2_plus_three_tokens() {
    assert_eq!(total("models/coconut-gpt2.arch"), 124_439_808 + 3 * 768);
}

/// Janus-Pro-1B without its frozen SigLIP encoder and VQ tokenizer, from the shapes in
/// HF deepseek-ai/Janus-Pro-1B config.json and janus/models/modeling_vlm.py:
/// the LM (Llama: 2 x 102400 x 2048 untied, 24 x (4 x 2048² + 3 x 2048 x 5632 + 2 x 2048),
/// a final norm 2048) = 1,652,656,128; the aligner 1024 -> 2048 -> 2048 with biases =
/// 6,295,552; gen_embed 16384 x 8 = 131,072; the gen aligner 8 -> 2048 -> 2048 =
/// 4,214,784; the gen head 2048 -> 2048 -> 16384 = 37,767,168.
#[test]
fn janus_pro_1b_is_1_701_064_704_without_its_frozen_encoders() {
    let lm = 2 * 102_400 * 2048 + 24 * (4 * 2048 * 2048 + 3 * 2048 * 5632 + 2 * 2048) + 2048;
    let aligner = (1024 * 2048 + 2048) + (2048 * 2048 + 2048);
    let gen_embed = 16_384 * 8;
    let gen_aligner = (8 * 2048 + 2048) + (2048 * 2048 + 2048);
    let gen_head = (2048 * 2048 + 2048) + (2048 * 16_384 + 16_384);
    assert_eq!(
        total("models/janus-pro-1b.arch"),
        lm + aligner + gen_embed + gen_aligner + gen_head
    );
    assert_eq!(total("models/janus-pro-1b.arch"), 1_701_064_704);
}
