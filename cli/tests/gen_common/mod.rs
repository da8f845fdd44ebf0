//! What the generated-code tests share: the workspace, scratch directories, `archc gen`,
//! the runtime's fixture (weights, a batch, its outputs) and the hostile and diffusion
//! models.
#![allow(dead_code)]

use archc_runtime::batch::Batch;
use archc_runtime::draws::draw_for_training;
use archc_runtime::model::graph_to_model_seeded;
use archc_runtime::rng::Rng;
use archc_runtime::train::data_spec;
use archc_runtime::weights::Saver;
use burn::backend::NdArray;
use std::path::{Path, PathBuf};
use std::process::Command;

pub type B = NdArray<f32>;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archc-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn gen_target(target: &str, file: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args([
            "gen",
            target,
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub fn graph(file: &Path) -> archc::graph::ArchGraph {
    let src = std::fs::read_to_string(file).unwrap();
    let c = archc::check_source(&src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    c.graph.unwrap()
}

/// Weights, a batch (with drawn mask rows) and the runtime's outputs, as files in a fresh
/// directory: `weights.safetensors`, `batch.safetensors`, `expected.safetensors`.
pub fn runtime_fixture(file: &Path, dir: &Path) {
    let g = graph(file);
    let device = Default::default();
    let (m, plan) = graph_to_model_seeded::<B>(&g, &device, 5).unwrap();
    std::fs::write(dir.join("weights.safetensors"), m.save(&plan)).unwrap();
    let spec = data_spec(&g, 2, None);
    let mut source = archc_runtime::data::open("synthetic", &spec).unwrap();
    let host = source.next_batch(&mut Rng::new(3)).unwrap();
    let mut batch = Batch::<B>::from_host(&host, &device);
    draw_for_training(&plan, &mut batch, &mut Rng::new(4));
    batch.steps.clear(); // loops at their inference passes, as the generated forwards run
    let out = m.forward_batch(&plan, &batch).unwrap();

    let mut ints = Vec::new();
    let mut floats = Saver::default();
    for (stem, t) in &batch.ids {
        ints.push((
            format!("{stem}.ids"),
            t.dims().to_vec(),
            t.clone().into_data().to_vec::<i64>().unwrap(),
        ));
    }
    for (stem, t) in &batch.masked {
        let v: Vec<i64> = t
            .clone()
            .int()
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap();
        ints.push((format!("{stem}.masked"), t.dims().to_vec(), v));
    }
    for (stem, t) in &batch.features {
        floats.put(format!("{stem}.features"), t.clone());
    }
    let layout: Vec<String> = batch
        .layout
        .iter()
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    std::fs::write(
        dir.join("batch.safetensors"),
        floats.to_bytes_with(&ints, &[("layout", layout.join(","))]),
    )
    .unwrap();
    let mut expected = Saver::default();
    for (h, t) in &out.heads {
        expected.put(h.clone(), t.clone());
    }
    for (l, n) in &out.loop_steps {
        expected.put_raw(format!("steps.{l}"), vec![1], vec![*n as f32]);
    }
    std::fs::write(dir.join("expected.safetensors"), expected.to_bytes()).unwrap();
}

pub fn archc(args: &[&str], dir: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "archc {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `(shape, f32 data)` of every tensor of a safetensors file.
pub fn tensors(path: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            let d = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (n, (v.shape().to_vec(), d))
        })
        .collect()
}

/// Item names that are Rust keywords (`type`, `fn`; `self` cannot even be a raw
/// identifier) and a Python keyword: their parameter names must survive both targets.
/// Also a `sampled` loop (Huginn's drawn passes), a z-loss and GPT-BERT's `mntp` (a
/// quarter of each batch causal, the rest masked, bidirectional and scored on masked rows),
/// for the training tests.
pub const HOSTILE_RUST: &str = "model hostile_rust
param d = 16
block b(width = d) {
  width:     width
  norm:      rmsnorm()
  attention: attention(heads = 2, positions = rope(theta = 10000.0))
  mlp:       swiglu(hidden = 32)
}
stem type: tokens(vocab = 32, max_len = 64) {
  embed: embedding(dim = d)
  blocks: b x 1
}
trunk {
  blocks: b x 1
}
head self: text(target = type) {
  blocks:    b x 1
  norm:      rmsnorm()
  objective: next_token(z_loss = 0.0001)
}
layer fn: linear(out = d) { from: trunk.out }
loop lambda: trunk.out -> trunk.in {
  steps:  sampled(mean = 3, backprop = 2)
  inject: concat_linear
}
mask type: mask_tokens(rate = 0.1..0.6)
mask type: mntp(causal = 0.25)
";

/// A diffusion head (MAR's MLP, with its names) beside a text head whose first 4 positions
/// are a bidirectional prefix (left out of its next-token loss), and a `next_scale` codes
/// stem (VAR: scales 1, 2, 3 of a `scales` mask that goes on to 4) with its same-position
/// `vq_ce` head, tied to the stem's code table.
pub const DIFFUSION_MODEL: &str = "model diffusion_tiny
param d = 16
block b(width = d) {
  width:     width
  norm:      layernorm(bias = true)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = 32, bias = true)
}
stem text: tokens(vocab = 32, max_len = 64) {
  embed: embedding(dim = d)
}
stem image: features(dim = 8, rows = 4) {
  adapter: mlp(layers = 1, hidden = d, out = d, act = gelu)
}
stem tiles: codes(codebook = 24, rows = 14) {
  embed:     next_scale(dim = d)
  positions: learned
}
trunk {
  from:   [image, tiles, text]
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
head var: codes(target = tiles) {
  blocks:     b x 1
  projection: tied(tiles.embed)
  objective:  vq_ce
}
mask text: prefix(len = 4)
mask tiles: scales(1, 2, 3, 4)
";
