//! Every model in models/ runs at its smoke scale, forward and backward, on random input
//! of every declared modality (one segment per stem, in the trunk's order).

use archc::graph::NodeKind;
use archc::model::StemKind;
use archc_runtime::batch::Batch;
use archc_runtime::model::graph_to_model;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Distribution, Int, Tensor};
use std::collections::HashMap;

type B = Autodiff<NdArray<f32>>;

#[test]
fn every_model_runs_at_smoke_scale_forward_and_backward() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let device = Default::default();
    let mut failures = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let opts = archc::CheckOptions {
            resolve: archc::resolve::Options {
                scale: Some("smoke".into()),
                overrides: vec![],
            },
            ..Default::default()
        };
        let c = archc::check_source(&src, &opts);
        let g = c.graph.expect("every model checks at smoke scale");
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (model, plan) = match graph_to_model::<B>(&g, &device) {
            Ok(x) => x,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        // The runtime holds exactly the parameters the compiler counts (tied once).
        use burn::module::Module;
        let counted = archc::analyze::count_params(&g).total;
        if model.num_params() as u128 != counted {
            failures.push(format!(
                "{name}: the runtime holds {} parameters, the compiler counts {counted}",
                model.num_params()
            ));
        }
        let (mut layout, mut ids, mut features) = (Vec::new(), HashMap::new(), HashMap::new());
        for n in g.graph.node_weights() {
            if let NodeKind::Input { modality, stem } = &n.kind {
                // A `next_scale` stem's rows come whole (its scales' codes).
                let len = match stem {
                    StemKind::Codes { rows, .. } if g.next_scale_sides(modality).is_some() => {
                        *rows as usize
                    }
                    _ => 8,
                };
                layout.push((modality.clone(), len));
                match stem {
                    StemKind::Tokens { vocab, .. } => {
                        ids.insert(
                            modality.clone(),
                            Tensor::<B, 2, Int>::random(
                                [2, len],
                                Distribution::Uniform(0.0, *vocab as f64),
                                &device,
                            ),
                        );
                    }
                    StemKind::Codes { codebook, .. } => {
                        ids.insert(
                            modality.clone(),
                            Tensor::<B, 2, Int>::random(
                                [2, len],
                                Distribution::Uniform(0.0, *codebook as f64),
                                &device,
                            ),
                        );
                    }
                    StemKind::Features { dim, .. } => {
                        features.insert(
                            modality.clone(),
                            Tensor::<B, 3>::random(
                                [2, len, *dim as usize],
                                Distribution::Normal(0.0, 1.0),
                                &device,
                            ),
                        );
                    }
                }
            }
        }
        let batch = Batch {
            layout,
            ids,
            features,
            masked: HashMap::new(),
            steps: HashMap::new(),
        };
        match model.forward_batch(&plan, &batch) {
            Ok(out) => {
                assert!(!out.heads.is_empty(), "{name}: no head output");
                let loss = out
                    .heads
                    .values()
                    .map(|t| t.clone().mean())
                    .reduce(|a, b| a + b)
                    .unwrap();
                let grads = loss.backward();
                let some_grad = model
                    .nodes
                    .iter()
                    .filter_map(|m| m.block.as_ref())
                    .any(|b| b.mlp.up.weight.val().grad(&grads).is_some());
                assert!(some_grad, "{name}: no gradient reached a block");
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A diffusion head's MLP (MAR's `SimpleMLPAdaLN`) is built with exactly the parameters
/// the compiler counts, saved under MAR's names, and loads back.
#[test]
fn a_diffusion_head_holds_the_counted_mlp_and_round_trips() {
    let src = "param d = 16
block b(width = d) {
  width:     width
  norm:      layernorm(bias = true)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = 32, bias = true)
}
stem text: tokens(vocab = 32, max_len = 16) {
  embed: embedding(dim = d)
}
stem image: features(dim = 8, rows = 4) {
  adapter: mlp(layers = 1, hidden = d, out = d, act = gelu)
}
trunk {
  from:   [text, image]
  blocks: b x 1
}
head lm: text(target = text) {
  blocks:    b x 1
  objective: next_token
}
head pix: diffusion(target = image) {
  blocks:    b x 1
  objective: diffusion(layers = 2, width = 24, steps = 50)
}
";
    let c = archc::check_source(src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let g = c.graph.unwrap();
    let device = Default::default();
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    use burn::module::Module;
    assert_eq!(
        model.num_params() as u128,
        archc::analyze::count_params(&g).total
    );
    let bytes = model.save(&plan);
    let names = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    for n in [
        "pix.objective.time_embed.mlp.0.weight",
        "pix.objective.res_blocks.1.adaLN_modulation.1.bias",
        "pix.objective.final_layer.linear.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
    }
    let (fresh, _) = archc_runtime::model::graph_to_model_seeded::<B>(&g, &device, 9).unwrap();
    let mut w = archc_runtime::weights::Weights::from_bytes(&bytes).unwrap();
    let loaded = fresh.load(&plan, &mut w).unwrap();
    w.finish().unwrap();
    assert_eq!(loaded.save(&plan), bytes);
}
