//! Costs from `archc build`: FLOPs, effective depth, memory. Each expected number is
//! derived in the comment from a published formula or count (sources in docs/costs.md).

use crate::common::check_clean;
use archc::analyze::{graph_to_summary, Summary, Workload};
use archc::CheckOptions;

fn summary(rel: &str, batch: u64, seq: u64) -> Summary {
    let c = check_clean(rel, &CheckOptions::default());
    graph_to_summary(c.graph.as_ref().expect("graph"), Workload { batch, seq })
}

fn text(s: &Summary) -> &archc::analyze::ModalityCost {
    s.modalities
        .iter()
        .find(|m| m.modality == "text")
        .expect("a text modality")
}

/// Huginn at mean recurrence 32: prelude 2 + core 4 x 32 + coda 2 = 132 layers
/// (Geiping et al. 2025, arXiv 2502.05171, and the issue's own figure).
#[test]
fn huginn_effective_depth_is_132() {
    assert_eq!(
        text(&summary("models/huginn-3.5b.arch", 1, 4096)).effective_depth,
        132
    );
}

#[test]
fn gpt2_small_depth_and_flops_follow_the_stated_formula() {
    let s = summary("models/gpt2-small.arch", 1, 1024);
    let t = text(&s);
    assert_eq!(t.effective_depth, 12);
    // 2 FLOPs per matmul weight (Kaplan et al. 2020, Table 1): per block q, k, v, o
    // (4 * 768^2) and the MLP (2 * 768 * 3072); the tied unembedding still multiplies
    // (768 * 50257). Attention: 4 * T * d_attn per layer (PaLM, Appendix B).
    let (d, l, v, t_ctx) = (768u128, 12u128, 50257u128, 1024u128);
    let matmul = l * (4 * d * d + 2 * d * 4 * d) + d * v;
    let want = 2 * matmul + 4 * l * t_ctx * d;
    assert_eq!(t.flops_forward_per_token, want);
    assert_eq!(t.flops_forward_per_token, 284_812_800);
    assert_eq!(t.flops_train_per_token, 3 * want);
}

/// Llama-2-7B's KV cache: 2 (K, V) x 32 layers x 4096 (32 heads x 128) x 2 bytes (bf16)
/// = 524,288 bytes per token; at seq 4096, batch 1: 2 GiB.
#[test]
fn llama2_7b_kv_cache_is_half_a_mebibyte_per_token() {
    let s = summary("models/llama2-7b.arch", 1, 4096);
    assert_eq!(s.kv_cache_bytes, 524_288 * 4096);
    let s = summary("models/llama2-7b.arch", 3, 100);
    assert_eq!(s.kv_cache_bytes, 524_288 * 300);
}

#[test]
fn parameter_memory_is_4_and_2_bytes_per_parameter() {
    let s = summary("models/llama2-7b.arch", 1, 4096);
    assert_eq!(s.params, 6_738_415_616);
    assert_eq!(s.param_bytes_f32, 4 * 6_738_415_616);
    assert_eq!(s.param_bytes_bf16, 2 * 6_738_415_616);
}

/// Korthikanti et al. 2022, eq. 1: s*b*h*(34 + 5*a*s/h) bytes per layer, for GPT-2 small
/// (h = 768, a = 12, L = 12) at s = 1024, b = 2.
#[test]
fn gpt2_small_activation_memory_follows_korthikanti() {
    let s = summary("models/gpt2-small.arch", 2, 1024);
    let (sq, b, h, a) = (1024u128, 2u128, 768u128, 12u128);
    assert_eq!(
        s.activation_bytes,
        12 * (sq * b * h * 34 + 5 * a * sq * sq * b)
    );
}

/// Huginn backpropagates through 8 of its 32 recurrent steps: the core's activations are
/// kept for 8 runs, not 32, while its FLOPs and KV cache count all 32.
#[test]
fn sampled_loops_keep_activations_for_backprop_steps_only() {
    let s = summary("models/huginn-3.5b.arch", 1, 128);
    let core = s.items.iter().find(|i| i.item == "trunk").expect("trunk");
    assert!(core
        .nodes
        .iter()
        .filter(|n| n.kind == "block")
        .all(|n| n.runs == 32));
    let (sq, h, a) = (128u128, 5280u128, 55u128);
    let per_run = sq * h * 34 + 5 * a * sq * sq;
    // prelude 2 + coda 2 blocks once, core 4 blocks x 8 backprop steps
    assert_eq!(s.activation_bytes, per_run * (2 + 2 + 4 * 8));
}

#[test]
fn tied_weights_count_once_but_still_multiply() {
    let s = summary("models/gpt2-small.arch", 1, 1024);
    let lm = s.items.iter().find(|i| i.name == "lm").expect("lm");
    let proj = lm
        .nodes
        .iter()
        .find(|n| n.kind == "projection")
        .expect("projection");
    assert_eq!(proj.params, 0);
    assert_eq!(proj.flops_forward, 2 * 768 * 50257);
}
