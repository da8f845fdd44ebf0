//! What the runtime computes (docs/semantics.md): masks by gradient, loops against their
//! unrolled form, tied weights, seeds.

use archc_runtime::batch::Batch;
use archc_runtime::model::graph_to_model;
use burn::backend::{Autodiff, NdArray};
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use std::collections::HashMap;

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

fn ids(v: &[i64], device: &burn::backend::ndarray::NdArrayDevice) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

/// Text is causal: the output at position p does not depend on any later token, at all
/// (exactly zero gradient), and does depend on earlier ones.
#[test]
fn text_positions_never_see_later_tokens() {
    let src = format!("{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead lm: text {{\n  objective: next_token\n}}\n");
    let g = graph(&src);
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    // Token k sits at position k, so a token's gradient row is its position's.
    let tokens: Vec<i64> = (0..8).collect();
    for p in 0..8 {
        let out = model
            .forward(
                &plan,
                &HashMap::from([("text".into(), ids(&tokens, &device))]),
            )
            .unwrap();
        let loss = out["lm"].clone().narrow(1, p, 1).sum();
        let grads = loss.backward();
        let table = model.nodes[plan.slot[&g
            .graph
            .node_indices()
            .find(|n| g.graph[*n].path == "text.embed")
            .unwrap()]]
            .table
            .as_ref()
            .unwrap()
            .val();
        let grad: Vec<f32> = table.grad(&grads).unwrap().into_data().to_vec().unwrap();
        for tok in 0..8usize {
            let row = &grad[tok * 16..(tok + 1) * 16];
            let norm: f32 = row.iter().map(|x| x * x).sum();
            if tok > p {
                assert_eq!(norm, 0.0, "position {p} sees the later token at {tok}");
            } else {
                assert!(norm > 0.0, "position {p} does not see token {tok}");
            }
        }
    }
}

/// In `mask image: bidirectional`, an image position sees the later rows of its own span,
/// but never the text after the span.
#[test]
fn an_image_span_is_bidirectional_and_text_after_it_stays_unseen() {
    let src = format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\nstem image: features(dim = 8, rows = 4) {{\n  adapter: mlp(layers = 1, out = d)\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead lm: text {{\n  blocks: b x 1\n  objective: next_token\n}}\nhead recon: features(target = image) {{\n  objective: masked_regression(shift = 1)\n}}\nmask image: bidirectional\nmask image: mask_tokens(rate = 0.0..1.0)\n"
    );
    let g = graph(&src);
    let device = Default::default();
    // mask_tokens is a training-time region; this test is about attention.
    let mut g2 = g.clone();
    g2.masks
        .retain(|m| m.region == archc::model::Region::Bidirectional);
    let (model, plan) = graph_to_model::<B>(&g2, &device).unwrap();
    let feats = Tensor::<B, 3>::random(
        [1, 4, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    )
    .require_grad();
    let text: Vec<i64> = (0..8).collect();
    let batch = Batch {
        layout: vec![("text".into(), 4), ("image".into(), 4), ("text".into(), 4)],
        ids: HashMap::from([("text".into(), ids(&text, &device))]),
        features: HashMap::from([("image".into(), feats.clone())]),
        masked: HashMap::new(),
        steps: HashMap::new(),
    };
    let out = model.forward_batch(&plan, &batch).unwrap();
    // The first image position's output, w.r.t. the image rows: all four nonzero.
    let loss = out.heads["recon"].clone().narrow(1, 0, 1).sum();
    let grads = loss.backward();
    let g_img: Vec<f32> = feats.grad(&grads).unwrap().into_data().to_vec().unwrap();
    for row in 0..4 {
        let norm: f32 = g_img[row * 8..(row + 1) * 8].iter().map(|x| x * x).sum();
        assert!(norm > 0.0, "image position 0 does not see image row {row}");
    }
    // The last image position's output, w.r.t. the text after the span: exactly zero.
    let out = model.forward_batch(&plan, &batch).unwrap();
    let loss = out.heads["recon"].clone().narrow(1, 3, 1).sum();
    let grads = loss.backward();
    let table_node = g
        .graph
        .node_indices()
        .find(|n| g.graph[*n].path == "text.embed")
        .unwrap();
    let table = model.nodes[plan.slot[&table_node]]
        .table
        .as_ref()
        .unwrap()
        .val();
    let g_txt: Vec<f32> = table.grad(&grads).unwrap().into_data().to_vec().unwrap();
    for tok in 4..8usize {
        let norm: f32 = g_txt[tok * 16..(tok + 1) * 16].iter().map(|x| x * x).sum();
        assert_eq!(norm, 0.0, "the image span sees text token {tok} after it");
    }
}

fn loop_model(steps: &str) -> String {
    format!("{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n  blocks: b x 1\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead lm: text {{\n  blocks: b x 1\n  objective: next_token\n}}\nloop think: trunk.out -> trunk.in {{\n  steps: {steps}\n  inject: replace\n}}\n")
}

/// `fixed(2)` with `replace` is the trunk run twice, the second time on its own output:
/// computed here by hand with the same block modules.
#[test]
fn a_loop_equals_its_unrolled_trunk() {
    let device = Default::default();
    let g = graph(&loop_model("fixed(2)"));
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let tokens: Vec<i64> = vec![3, 1, 4, 1, 5, 9, 2, 6];
    let input = HashMap::from([("text".to_string(), ids(&tokens, &device))]);
    let looped: Vec<f32> = model.forward(&plan, &input).unwrap()["lm"]
        .clone()
        .into_data()
        .to_vec()
        .unwrap();
    // Unrolled by hand: the same modules, the trunk twice.
    let node = |path: &str| {
        &model.nodes[plan.slot[&g
            .graph
            .node_indices()
            .find(|n| g.graph[*n].path == path)
            .unwrap()]]
    };
    let mask = archc_runtime::model::causal_mask::<B>(1, 8, &device);
    let table = node("text.embed").table.as_ref().unwrap().val();
    let mut x = table
        .clone()
        .select(
            0,
            Tensor::from_data(TensorData::new(tokens.clone(), [8]), &device),
        )
        .reshape([1, 8, 16]);
    x = node("text.blocks.0")
        .block
        .as_ref()
        .unwrap()
        .forward(x, mask.clone());
    for _ in 0..2 {
        for b in ["trunk.blocks.0", "trunk.blocks.1"] {
            x = node(b).block.as_ref().unwrap().forward(x, mask.clone());
        }
    }
    x = node("lm.blocks.0")
        .block
        .as_ref()
        .unwrap()
        .forward(x, mask.clone());
    let unrolled: Vec<f32> = node("lm.projection").linears[0]
        .forward(x)
        .into_data()
        .to_vec()
        .unwrap();
    let worst = looped
        .iter()
        .zip(&unrolled)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "loop and unrolled trunk differ by {worst}");
    // And fixed(1) is no loop at all: the trunk once.
    let g1 = graph(&loop_model("fixed(1)"));
    let (m1, p1) = graph_to_model::<B>(&g1, &device).unwrap();
    let out = m1
        .forward_batch(
            &p1,
            &Batch {
                layout: vec![("text".into(), 8)],
                ids: input.clone(),
                features: HashMap::new(),
                masked: HashMap::new(),
                steps: HashMap::new(),
            },
        )
        .unwrap();
    assert_eq!(out.loop_steps["think"], 1);
}

/// A tied projection adds no parameter: the module has exactly the compiler's count.
#[test]
fn tied_weights_are_one_parameter() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/gpt2_ref/gpt2-ref.arch"
    ))
    .unwrap();
    let g = graph(&src);
    let (model, _) = graph_to_model::<B>(&g, &Default::default()).unwrap();
    assert_eq!(
        model.num_params() as u128,
        archc::analyze::count_params(&g).total
    );
    assert_eq!(model.num_params(), 118_528);
}

#[test]
fn the_same_seed_gives_the_same_outputs() {
    let device = Default::default();
    let g = graph(&loop_model("fixed(3)"));
    let run = |seed: u64| -> Vec<f32> {
        let (model, plan) =
            archc_runtime::model::graph_to_model_seeded::<B>(&g, &device, seed).unwrap();
        let input = HashMap::from([("text".to_string(), ids(&[1, 2, 3, 4], &device))]);
        model.forward(&plan, &input).unwrap()["lm"]
            .clone()
            .into_data()
            .to_vec()
            .unwrap()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

/// `mask_tokens`: the rows a batch marks are replaced by the learned `{stem}.mask_token`
/// before the stem's own blocks, so a masked row's value no longer depends on its input
/// features (zero gradient), and unmasked rows are untouched.
#[test]
fn masked_rows_are_replaced_by_the_mask_token() {
    let src = format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\nstem image: features(dim = 8, rows = 4) {{\n  adapter: mlp(layers = 1, out = d)\n  blocks: b x 1\n}}\ntrunk {{\n  blocks: b x 1\n}}\nhead lm: text {{\n  blocks: b x 1\n  objective: next_token\n}}\nhead recon: features(target = image) {{\n  blocks: b x 1\n  objective: masked_regression(shift = 1)\n}}\nmask image: bidirectional\nmask image: mask_tokens(rate = 0.0..1.0)\n"
    );
    let g = graph(&src);
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    assert_eq!(
        plan.mask_points.len(),
        1,
        "the image adapter carries the mask token"
    );
    let feats = Tensor::<B, 3>::random(
        [1, 4, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    )
    .require_grad();
    let masked = Tensor::<B, 2, burn::tensor::Bool>::from_data(
        TensorData::new(vec![false, true, false, true], [1, 4]),
        &device,
    );
    let batch = Batch {
        layout: vec![("text".into(), 2), ("image".into(), 4)],
        ids: HashMap::from([("text".into(), ids(&[1, 2], &device))]),
        features: HashMap::from([("image".into(), feats.clone())]),
        masked: HashMap::from([("image".into(), masked)]),
        steps: HashMap::new(),
    };
    let out = model.forward_batch(&plan, &batch).unwrap();
    let grads = out.heads["recon"].clone().sum().backward();
    let g_img: Vec<f32> = feats.grad(&grads).unwrap().into_data().to_vec().unwrap();
    for row in 0..4 {
        let norm: f32 = g_img[row * 8..(row + 1) * 8].iter().map(|x| x * x).sum();
        if row % 2 == 1 {
            assert_eq!(norm, 0.0, "masked row {row} still reaches the output");
        } else {
            assert!(norm > 0.0, "unmasked row {row} does not reach the output");
        }
    }
}

/// `scales(1, 2)` (VAR): a span's first position is scale 0, the next four scale 1. A
/// position sees its own scale and earlier ones, never a later scale or what follows.
#[test]
fn scales_attend_within_and_to_earlier_scales_only() {
    let src = format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\nstem image: features(dim = 8, rows = 5) {{\n  adapter: mlp(layers = 1, out = d)\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead lm: text {{\n  blocks: b x 1\n  objective: next_token\n}}\nhead recon: features(target = image) {{\n  blocks: b x 1\n  objective: masked_regression(shift = 1)\n}}\nmask image: scales(1, 2)\nmask image: mask_tokens(rate = 0.0..1.0)\n"
    );
    let g = graph(&src);
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let run = |position: usize| -> Vec<f32> {
        let feats = Tensor::<B, 3>::random(
            [1, 5, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad();
        let batch = Batch {
            layout: vec![("image".into(), 5), ("text".into(), 2)],
            ids: HashMap::from([("text".into(), ids(&[1, 2], &device))]),
            features: HashMap::from([("image".into(), feats.clone())]),
            masked: HashMap::new(),
            steps: HashMap::new(),
        };
        let out = model.forward_batch(&plan, &batch).unwrap();
        let grads = out.heads["recon"]
            .clone()
            .narrow(1, position, 1)
            .sum()
            .backward();
        let g: Vec<f32> = feats.grad(&grads).unwrap().into_data().to_vec().unwrap();
        (0..5)
            .map(|r| g[r * 8..(r + 1) * 8].iter().map(|x| x * x).sum())
            .collect()
    };
    // Position 0 (scale 0) sees only itself.
    let seen = run(0);
    assert!(seen[0] > 0.0);
    assert!(
        seen[1..].iter().all(|n| *n == 0.0),
        "scale 0 sees a later scale: {seen:?}"
    );
    // Position 1 (scale 1) sees scale 0 and all of scale 1, the later positions 2..4 too.
    let seen = run(1);
    assert!(
        seen.iter().all(|n| *n > 0.0),
        "scale 1 does not see all of itself and scale 0: {seen:?}"
    );
}

/// `shift: 1` (COCONUT): position t is fed the source's value at t - 1, so position 0
/// keeps its first pass (its output equals the loop-free output) and later ones change.
#[test]
fn a_shifted_loop_feeds_each_position_from_the_one_before() {
    let device = Default::default();
    let with_shift =
        loop_model("fixed(2)").replace("  inject: replace\n", "  inject: replace\n  shift:  1\n");
    let out = |src: &str| -> Vec<f32> {
        let g = graph(src);
        let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
        let input = HashMap::from([("text".to_string(), ids(&[3, 1, 4, 1], &device))]);
        model.forward(&plan, &input).unwrap()["lm"]
            .clone()
            .into_data()
            .to_vec()
            .unwrap()
    };
    let (shifted, once) = (out(&with_shift), out(&loop_model("fixed(1)")));
    let vocab = 32;
    let diff = |p: usize| {
        shifted[p * vocab..(p + 1) * vocab]
            .iter()
            .zip(&once[p * vocab..(p + 1) * vocab])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(
        diff(0) < 1e-6,
        "position 0 changed under a shifted loop: {}",
        diff(0)
    );
    assert!(diff(2) > 1e-4, "position 2 did not change under the loop");
}

/// `next_scale` (VAR): position k of scale s is fed only the codes of scales < s and is
/// scored on code k itself, so under `scales` no output at a scale <= s depends on a code
/// of scale s (exactly: changing it changes none of those logits), while the next scale's
/// outputs do.
#[test]
fn a_next_scale_stem_never_shows_a_position_its_own_scale() {
    let src = format!(
        "{BLOCK}stem image: codes(codebook = 16, rows = 14) {{\n  embed: next_scale(dim = d)\n  positions: learned\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead gen: codes(target = image) {{\n  objective: vq_ce\n}}\nmask image: scales(1, 2, 3, 4)\n"
    );
    let g = graph(&src);
    assert_eq!(g.next_scale_sides("image"), Some(vec![1, 2, 3]));
    assert_eq!(g.target_shift("image"), 0);
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let logits = |codes: &[i64]| -> Vec<f32> {
        let input = HashMap::from([("image".to_string(), ids(codes, &device))]);
        model.forward(&plan, &input).unwrap()["gen"]
            .clone()
            .into_data()
            .to_vec()
            .unwrap()
    };
    let base: Vec<i64> = (0..14).map(|i| (i * 5 % 16) as i64).collect();
    let before = logits(&base);
    let scale_end = [1usize, 5, 14]; // positions of scales 0, 0..1, 0..2
    for (c, scale) in [(0usize, 0usize), (1, 1), (4, 1), (5, 2), (13, 2)] {
        let mut changed = base.clone();
        changed[c] = (changed[c] + 7) % 16;
        let after = logits(&changed);
        let rows_differ: Vec<bool> = (0..14)
            .map(|r| before[r * 16..(r + 1) * 16] != after[r * 16..(r + 1) * 16])
            .collect();
        assert!(
            rows_differ[..scale_end[scale]].iter().all(|d| !d),
            "code {c} (scale {scale}) reaches an output of its own or an earlier scale: {rows_differ:?}"
        );
        if scale < 2 {
            assert!(
                rows_differ[scale_end[scale]..scale_end[scale + 1]].iter().all(|d| *d),
                "code {c} (scale {scale}) does not reach every position of the next scale: {rows_differ:?}"
            );
        }
    }
}

/// `mntp` (GPT-BERT): a sequence with masked text attends both ways over its text, and one
/// without stays causal, in the same batch.
#[test]
fn mntp_makes_masked_sequences_bidirectional_and_leaves_the_others_causal() {
    let src = format!(
        "{BLOCK}stem text: tokens(vocab = 32, max_len = 16) {{\n  embed: embedding(dim = d)\n}}\ntrunk {{\n  blocks: b x 2\n}}\nhead lm: text {{\n  objective: next_token\n}}\nmask text: mask_tokens(rate = 0.1..0.5)\nmask text: mntp(causal = 0.5)\n"
    );
    let g = graph(&src);
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let embed = plan.slot[&g
        .graph
        .node_indices()
        .find(|n| g.graph[*n].path == "text.embed")
        .unwrap()];
    // Sequence 0 has nothing masked (causal); sequence 1 has row 5 masked.
    let tokens: Vec<i64> = (0..8).chain(8..16).collect();
    let mut masked = vec![false; 16];
    masked[8 + 5] = true;
    let batch = Batch {
        layout: vec![("text".into(), 8)],
        ids: HashMap::from([(
            "text".into(),
            Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [2, 8]), &device),
        )]),
        features: HashMap::new(),
        masked: HashMap::from([(
            "text".into(),
            Tensor::<B, 2, burn::tensor::Bool>::from_data(TensorData::new(masked, [2, 8]), &device),
        )]),
        steps: HashMap::new(),
    };
    // Position 2 of each sequence: which tokens reach it?
    let seen = |seq: usize| -> Vec<f32> {
        let out = model.forward_batch(&plan, &batch).unwrap();
        let grads = out.heads["lm"]
            .clone()
            .narrow(0, seq, 1)
            .narrow(1, 2, 1)
            .sum()
            .backward();
        let table = model.nodes[embed].table.as_ref().unwrap().val();
        let g: Vec<f32> = table.grad(&grads).unwrap().into_data().to_vec().unwrap();
        (0..16)
            .map(|t| g[t * 16..(t + 1) * 16].iter().map(|x| x * x).sum())
            .collect()
    };
    let causal = seen(0);
    assert!(causal[..3].iter().all(|n| *n > 0.0), "{causal:?}");
    assert!(
        causal[3..].iter().all(|n| *n == 0.0),
        "the causal sequence sees ahead: {causal:?}"
    );
    let both = seen(1);
    // Tokens 8..16 are sequence 1's; its row 5 (token 13) is the mask token, not the id.
    for t in (8..16).filter(|t| *t != 13) {
        assert!(
            both[t] > 0.0,
            "the masked sequence does not see token {t}: {both:?}"
        );
    }
    assert_eq!(
        both[13], 0.0,
        "a masked row's id reached the model: {both:?}"
    );
}
