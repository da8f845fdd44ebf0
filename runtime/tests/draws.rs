//! Training draws (docs/semantics.md, "Training draws"): mask rates within the declared
//! range, masked rows at that rate, Huginn's passes around the declared mean, and
//! truncated backprop through only the last `backprop` passes.

use archc_runtime::batch::Batch;
use archc_runtime::draws::{draw_for_training, draw_passes};
use archc_runtime::model::graph_to_model;
use archc_runtime::rng::Rng;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Int, Tensor, TensorData};

type B = Autodiff<NdArray<f32>>;

fn graph(src: &str) -> archc::graph::ArchGraph {
    let c = archc::check_source(src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c.graph.unwrap()
}

const BLOCK: &str = "param d = 16
block b(width = d) {
  width:     width
  norm:      layernorm(bias = true)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = 32, bias = true)
}
";

/// The declared mean is the expected number of passes: over 4,000 draws the average is
/// within 4 standard errors of it (the log-normal Poisson's variance is
/// μ + μ²(e^{σ²} − 1) with μ = mean − 1; for mean 32 the standard error is 0.28).
#[test]
fn sampled_passes_average_the_declared_mean() {
    let mut rng = Rng::new(7);
    let n = 4000;
    let draws: Vec<usize> = (0..n).map(|_| draw_passes(32, &mut rng)).collect();
    let avg = draws.iter().sum::<usize>() as f64 / n as f64;
    let mu = 31.0f64;
    let var = mu + mu * mu * ((0.25f64).exp() - 1.0);
    let se = (var / n as f64).sqrt();
    assert!(
        (avg - 32.0).abs() < 4.0 * se,
        "average {avg}, standard error {se}"
    );
    assert!(draws.iter().all(|&p| p >= 1));
    // Spread like Huginn's: some short and some long recurrences, not a constant.
    assert!(draws.iter().any(|&p| p < 16) && draws.iter().any(|&p| p > 48));
    assert_eq!(draw_passes(1, &mut rng), 1);
}

fn mask_model(range: &str) -> String {
    format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 64) {{\n  embed: embedding(dim = d)\n}}\nstem image: codes(codebook = 16, rows = 64) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  from: [text, image]\n  blocks: b x 1\n}}\nhead lm: text {{\n  objective: next_token\n}}\nmask image: mask_tokens(rate = {range})\n"
    )
}

/// Each step draws one rate in the declared range, and masks about that fraction of the
/// modality's rows (and nothing of other modalities).
#[test]
fn mask_rates_stay_in_range_and_mask_that_fraction() {
    let g = graph(&mask_model("0.25..0.75"));
    let device = Default::default();
    let (_, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let mut rng = Rng::new(3);
    let mut rates = Vec::new();
    for _ in 0..200 {
        let mut batch = Batch::<B>::new(vec![("text".into(), 8), ("image".into(), 64)]);
        batch
            .ids
            .insert("text".into(), Tensor::<B, 2, Int>::zeros([4, 8], &device));
        batch
            .ids
            .insert("image".into(), Tensor::<B, 2, Int>::zeros([4, 64], &device));
        let drawn = draw_for_training(&plan, &mut batch, &mut rng);
        let rate = drawn.rates["image"];
        assert!((0.25..=0.75).contains(&rate), "rate {rate}");
        assert!(!batch.masked.contains_key("text"));
        let m = batch.masked["image"].clone();
        assert_eq!(m.dims(), [4, 64]);
        let hits = m.int().sum().into_scalar() as f64;
        // 256 Bernoulli(rate) rows: within 5 standard deviations of the rate.
        let sd = (256.0 * rate * (1.0 - rate)).sqrt();
        assert!(
            (hits - 256.0 * rate).abs() < 5.0 * sd,
            "{hits} of 256 at {rate}"
        );
        rates.push(rate);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    // U[0.25, 0.75] has mean 0.5 and sd 0.144; 200 draws: standard error 0.0102.
    assert!((mean - 0.5).abs() < 0.041, "mean rate {mean}");
    assert!(rates.iter().any(|r| *r < 0.3) && rates.iter().any(|r| *r > 0.7));
}

fn loop_model(backprop: u64) -> String {
    format!("{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  blocks: b x 1\n}}\nhead lm: text {{\n  blocks: b x 1\n  objective: next_token\n}}\nloop think: trunk.out -> trunk.in {{\n  steps: sampled(mean = 3, backprop = {backprop})\n  inject: replace\n}}\n")
}

/// With `replace`, the embedding reaches the head only through the first pass's input, so
/// its gradient is exactly zero unless every pass carries gradient; drawn passes override
/// the mean, and the loop reports them.
#[test]
fn gradients_flow_through_the_last_backprop_passes_only() {
    let device = Default::default();
    let tokens: Vec<i64> = vec![3, 1, 4, 1, 5, 9, 2, 6];
    let embed_grad = |backprop: u64, passes: usize| -> (f32, usize) {
        let g = graph(&loop_model(backprop));
        let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
        let mut batch = Batch::<B>::new(vec![("text".into(), 8)]);
        batch.ids.insert(
            "text".into(),
            Tensor::from_data(TensorData::new(tokens.clone(), [1, 8]), &device),
        );
        batch.steps.insert("think".into(), passes);
        let out = model.forward_batch(&plan, &batch).unwrap();
        let grads = out.heads["lm"].clone().sum().backward();
        let table = model.nodes[plan.slot[&g
            .graph
            .node_indices()
            .find(|n| g.graph[*n].path == "text.embed")
            .unwrap()]]
            .table
            .as_ref()
            .unwrap()
            .val();
        let gsum = table
            .grad(&grads)
            .map(|t| t.abs().sum().into_scalar())
            .unwrap_or(0.0);
        (gsum, out.loop_steps["think"])
    };
    assert_eq!(embed_grad(1, 3), (0.0, 3));
    assert_eq!(embed_grad(2, 3).0, 0.0);
    let (full, passes) = embed_grad(3, 3);
    assert!(full > 0.0 && passes == 3);
    let (two, passes) = embed_grad(2, 2);
    assert!(two > 0.0 && passes == 2);
}

/// `mntp(causal = c)` (GPT-BERT): the first round(b · c) sequences of every batch are left
/// unmasked (causal), the others masked at the drawn rate.
#[test]
fn mntp_keeps_the_first_share_of_each_batch_unmasked() {
    let src = format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 64) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  blocks: b x 1\n}}\nhead lm: text {{\n  objective: next_token\n}}\nmask text: mask_tokens(rate = 0.5..0.5)\nmask text: mntp(causal = 0.25)\n"
    );
    let g = graph(&src);
    let device = Default::default();
    let (_, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let mut rng = Rng::new(5);
    for (b, causal) in [(8, 2), (4, 1), (2, 1), (1, 0)] {
        let mut batch = Batch::<B>::new(vec![("text".into(), 32)]);
        batch
            .ids
            .insert("text".into(), Tensor::<B, 2, Int>::zeros([b, 32], &device));
        draw_for_training(&plan, &mut batch, &mut rng);
        let rows: Vec<i64> = batch.masked["text"]
            .clone()
            .int()
            .sum_dim(1)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        for (e, r) in rows.iter().enumerate() {
            if e < causal {
                assert_eq!(
                    *r, 0,
                    "batch {b}: sequence {e} is one of the {causal} causal ones"
                );
            } else {
                // 32 rows at rate 0.5: none masked has probability 2^-32.
                assert!(*r > 0, "batch {b}: sequence {e} should be masked: {rows:?}");
            }
        }
    }
    let _ = TensorData::new(vec![0i64], [1]);
}
