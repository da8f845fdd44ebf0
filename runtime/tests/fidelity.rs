//! Fidelity against a reference no one here wrote: a small GPT-2 built with Hugging Face
//! transformers' GPT2LMHeadModel (tests/fixtures/gpt2_ref/make_gpt2_ref.py, random
//! weights, gelu_new), its weights renamed to archc's names, and its logits for a fixed
//! input. The runtime must reproduce them to 1e-4 relative in f32.

use archc_runtime::model::graph_to_model;
use archc_runtime::weights::{WeightError, Weights};
use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use std::collections::HashMap;
use std::path::PathBuf;

type B = NdArray<f32>;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/gpt2_ref")
        .join(name)
}

fn graph() -> archc::graph::ArchGraph {
    let src = std::fs::read_to_string(fixture("gpt2-ref.arch")).unwrap();
    let c = archc::check_source(&src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c.graph.unwrap()
}

/// `input_ids` [2, 16] (int64) and `logits` [2, 16, 256] (f32) from the reference.
fn expected() -> (Vec<i64>, Vec<usize>, Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture("expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let ids = st.tensor("input_ids").unwrap();
    let ids_v: Vec<i64> = ids
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let logits = st.tensor("logits").unwrap();
    let l_v: Vec<f32> = logits
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (ids_v, ids.shape().to_vec(), l_v, logits.shape().to_vec())
}

#[test]
fn gpt2_logits_match_hugging_face() {
    let device = Default::default();
    let g = graph();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let mut w =
        Weights::from_bytes(&std::fs::read(fixture("weights.safetensors")).unwrap()).unwrap();
    let model = model.load(&plan, &mut w).unwrap();
    w.finish().unwrap();
    let (ids, ids_shape, want, want_shape) = expected();
    let ids =
        Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [ids_shape[0], ids_shape[1]]), &device);
    let out = model
        .forward(&plan, &HashMap::from([("text".to_string(), ids)]))
        .unwrap();
    let logits = out["lm"].clone();
    assert_eq!(logits.dims().to_vec(), want_shape);
    let got: Vec<f32> = logits.into_data().to_vec().unwrap();
    let mut worst = 0.0f32;
    for (a, b) in got.iter().zip(&want) {
        let rel = (a - b).abs() / b.abs().max(1.0);
        worst = worst.max(rel);
    }
    println!("max relative difference {worst:e}");
    assert!(
        worst <= 1e-4,
        "logits differ from Hugging Face's by {worst:e} (relative)"
    );
}

#[test]
fn wrong_and_missing_tensors_are_named_with_both_shapes() {
    let device = Default::default();
    let g = graph();
    let bytes = std::fs::read(fixture("weights.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // Rebuild the file without one tensor, and with one of another shape.
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    tensors.sort();
    let write = |ts: &[(String, Vec<usize>, Vec<u8>)]| {
        let views: Vec<(String, safetensors::tensor::TensorView)> = ts
            .iter()
            .map(|(n, s, d)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                        .unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let without: Vec<_> = tensors
        .iter()
        .filter(|t| t.0 != "trunk.blocks.1.attn.q.weight")
        .cloned()
        .collect();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let err = model
        .load(&plan, &mut Weights::from_bytes(&write(&without)).unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        WeightError::Missing {
            name: "trunk.blocks.1.attn.q.weight".into(),
            expected: vec![64, 64]
        }
    );
    let mut reshaped = tensors.clone();
    let t = reshaped
        .iter_mut()
        .find(|t| t.0 == "lm.norm.weight")
        .unwrap();
    t.1 = vec![32];
    t.2.truncate(32 * 4);
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let err = model
        .load(&plan, &mut Weights::from_bytes(&write(&reshaped)).unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        WeightError::Shape {
            name: "lm.norm.weight".into(),
            expected: vec![64],
            found: vec![32]
        }
    );
    assert!(
        err.to_string().contains("lm.norm.weight")
            && err.to_string().contains("[32]")
            && err.to_string().contains("[64]")
    );
    assert!(matches!(
        Weights::from_bytes(b"not safetensors"),
        Err(WeightError::Unreadable(_))
    ));
}

/// Saving writes the names and layouts the loader reads: the reference weights loaded and
/// saved again are the same tensors, and a model loaded from a save computes the same.
#[test]
fn save_and_load_round_trip() {
    let device = Default::default();
    let g = graph();
    let original = std::fs::read(fixture("weights.safetensors")).unwrap();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    let model = model
        .load(&plan, &mut Weights::from_bytes(&original).unwrap())
        .unwrap();
    let saved = model.save(&plan);
    let a = safetensors::SafeTensors::deserialize(&original).unwrap();
    let b = safetensors::SafeTensors::deserialize(&saved).unwrap();
    let mut names_a: Vec<String> = a.names().into_iter().map(str::to_string).collect();
    let mut names_b: Vec<String> = b.names().into_iter().map(str::to_string).collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    for n in &names_a {
        let (x, y) = (a.tensor(n).unwrap(), b.tensor(n).unwrap());
        assert_eq!(x.shape(), y.shape(), "{n}");
        assert_eq!(x.data(), y.data(), "{n}");
    }
    // A differently initialised model, loaded from the save, computes the same.
    let (other, plan2) = archc_runtime::model::graph_to_model_seeded::<B>(&g, &device, 99).unwrap();
    let other = other
        .load(&plan2, &mut Weights::from_bytes(&saved).unwrap())
        .unwrap();
    let (ids, shape, _, _) = expected();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [shape[0], shape[1]]), &device);
    let input = HashMap::from([("text".to_string(), ids)]);
    let x: Vec<f32> = model.forward(&plan, &input).unwrap()["lm"]
        .clone()
        .into_data()
        .to_vec()
        .unwrap();
    let y: Vec<f32> = other.forward(&plan2, &input).unwrap()["lm"]
        .clone()
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(x, y);
}
