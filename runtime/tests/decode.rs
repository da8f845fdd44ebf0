//! The cached decoder equals the full forward: a prompt, then tokens one at a time, give
//! the outputs the whole sequence gives at the same positions — for a plain GPT-2, a
//! multimodal model with a bidirectional image span and a masked-feature head, and models
//! with fixed and sampled loops (docs/semantics.md, "Decoding").

use archc_runtime::batch::Batch;
use archc_runtime::decode::Decoder;
use archc_runtime::model::graph_to_model_seeded;
use archc_runtime::rng::Rng;
use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};

type B = NdArray<f32>;

fn graph(path: &str, smoke: bool) -> archc::graph::ArchGraph {
    graph_set(path, smoke, &[])
}

fn graph_set(path: &str, smoke: bool, set: &[(&str, &str)]) -> archc::graph::ArchGraph {
    let src = std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let opts = archc::CheckOptions {
        resolve: archc::resolve::Options {
            scale: smoke.then(|| "smoke".to_string()),
            overrides: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        ..Default::default()
    };
    let c = archc::check_source(&src, &opts);
    c.graph
        .unwrap_or_else(|| panic!("{path}: {:?}", c.diagnostics))
}

fn ids(v: &[i64]) -> Tensor<B, 2, Int> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), [1, v.len()]),
        &Default::default(),
    )
}

/// Runs `prefix` (non-text segments: stem -> (len, ids or feature dim)) and `text` through
/// the full forward, and through the decoder as prefix + the first `prompt` text tokens,
/// then one token at a time; compares every head at every text position.
fn check(path: &str, smoke: bool, text_len: usize, prompt: usize) {
    let g = graph(path, smoke);
    let device = Default::default();
    let (model, plan) = graph_to_model_seeded::<B>(&g, &device, 3).unwrap();
    let spec = archc_runtime::train::data_spec(&g, 1, None);
    let mut rng = Rng::new(11);
    let mut full = Batch::<B>::new(Vec::new());
    let mut text_ids = Vec::new();
    let mut text_stem = String::new();
    for s in &spec.stems {
        use archc_runtime::data::StemData;
        match s.data {
            StemData::Tokens { vocab, .. } => {
                text_stem = s.name.clone();
                text_ids = (0..text_len)
                    .map(|_| rng.below(vocab as usize) as i64)
                    .collect();
            }
            StemData::Codes { codebook, rows } => {
                let v: Vec<i64> = (0..rows)
                    .map(|_| rng.below(codebook as usize) as i64)
                    .collect();
                full.layout.push((s.name.clone(), rows as usize));
                full.ids.insert(s.name.clone(), ids(&v));
            }
            StemData::Features { dim, rows } => {
                let v: Vec<f32> = (0..rows * dim).map(|_| rng.normal() as f32).collect();
                full.layout.push((s.name.clone(), rows as usize));
                full.features.insert(
                    s.name.clone(),
                    Tensor::from_data(
                        TensorData::new(v, [1, rows as usize, dim as usize]),
                        &device,
                    ),
                );
            }
        }
    }
    let mut prefix = full.clone();
    full.layout.push((text_stem.clone(), text_len));
    full.ids.insert(text_stem.clone(), ids(&text_ids));
    let want = model.forward_batch(&plan, &full).unwrap();

    let mut dec = Decoder::new(&model, &plan, 1).unwrap();
    prefix.layout.push((text_stem.clone(), prompt));
    prefix
        .ids
        .insert(text_stem.clone(), ids(&text_ids[..prompt]));
    let mut got: Vec<std::collections::HashMap<String, Tensor<B, 3>>> =
        vec![dec.extend(&prefix).unwrap().heads];
    for t in prompt..text_len {
        let mut one = Batch::<B>::new(vec![(text_stem.clone(), 1)]);
        one.ids.insert(text_stem.clone(), ids(&text_ids[t..t + 1]));
        got.push(dec.extend(&one).unwrap().heads);
    }
    // Text heads: their outputs over the text positions, concatenated, equal the full ones.
    let mut compared = 0;
    for (head, w) in &want.heads {
        let parts: Vec<Tensor<B, 3>> = got.iter().filter_map(|h| h.get(head).cloned()).collect();
        let g = Tensor::cat(parts, 1);
        assert_eq!(g.dims(), w.dims(), "{path}: head `{head}`");
        let a: Vec<f32> = g.into_data().to_vec().unwrap();
        let b: Vec<f32> = w.clone().into_data().to_vec().unwrap();
        let scale = b.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
            / scale;
        assert!(
            worst < 1e-5,
            "{path}: head `{head}` differs by {worst} (relative to its largest value)"
        );
        compared += 1;
    }
    assert!(compared > 0);
}

#[test]
fn gpt2_decodes_as_the_full_forward() {
    check("models/gpt2-tiny.arch", false, 24, 10);
}

#[test]
fn the_perfect_vlm_decodes_as_the_full_forward() {
    check("models/perfect-vlm.arch", true, 12, 5);
}

#[test]
fn a_sampled_loop_and_heads_with_blocks_decode_as_the_full_forward() {
    check("models/huginn-3.5b.arch", true, 12, 4);
    check("models/multi-layer-heads.arch", true, 12, 4);
}

#[test]
fn shifted_loops_are_refused_not_decoded_wrongly() {
    let g = graph("models/coconut-gpt2.arch", true);
    let (model, plan) = graph_to_model_seeded::<B>(&g, &Default::default(), 0).unwrap();
    let e = Decoder::new(&model, &plan, 1).err().unwrap();
    assert!(e.0.contains("shifted"), "{e}");
}

/// The entropy gate decides per token: with threshold 0.001 nats every token loops `max` times,
/// with a threshold above ln(vocab) (the largest entropy there is) none loops.
#[test]
fn the_entropy_gate_loops_each_token_while_it_is_uncertain() {
    let device = Default::default();
    for (threshold, want) in [("0.001", 4), ("1000.0", 1)] {
        let g = graph_set(
            "models/latent-loop.arch",
            true,
            &[("threshold", threshold), ("max_loops", "4")],
        );
        let (model, plan) = graph_to_model_seeded::<B>(&g, &device, 0).unwrap();
        let mut dec = Decoder::new(&model, &plan, 1).unwrap();
        let mut prompt = Batch::<B>::new(vec![("text".into(), 3)]);
        prompt.ids.insert("text".into(), ids(&[1, 2, 3]));
        assert_eq!(dec.extend(&prompt).unwrap().loop_steps["think"], want);
        for t in 0..3 {
            let mut one = Batch::<B>::new(vec![("text".into(), 1)]);
            one.ids.insert("text".into(), ids(&[t]));
            assert_eq!(
                dec.extend(&one).unwrap().loop_steps["think"],
                want,
                "threshold {threshold}"
            );
        }
    }
}
