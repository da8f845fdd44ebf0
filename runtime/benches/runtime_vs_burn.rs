//! Forward + backward tokens/s of GPT-2-tiny (models/gpt2-tiny.arch) through the runtime
//! and through the same model hand-written directly in burn, measured alternately in one
//! run on the same weights. Goal: runtime >= 0.97x hand-written. Run:
//! `cargo bench -p archc-runtime --bench runtime_vs_burn`.

use archc_runtime::model::graph_to_model;
use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu_approximate, softmax};
use burn::tensor::{backend::Backend, Bool, Distribution, Int, Tensor};
use std::collections::HashMap;
use std::time::{Duration, Instant};

type B = Autodiff<NdArray<f32>>;

const BATCH: usize = 8;
const SEQ: usize = 128;
const ROUNDS: usize = 21;
const STEPS: usize = 2;

/// GPT-2 written out by hand: the reference point.
struct Gpt2<B: Backend> {
    wte: Tensor<B, 2>,
    wpe: Tensor<B, 2>,
    blocks: Vec<HandBlock<B>>,
    ln_f: LayerNorm<B>,
    heads: usize,
}

struct HandBlock<B: Backend> {
    ln_1: LayerNorm<B>,
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    ln_2: LayerNorm<B>,
    fc: Linear<B>,
    proj: Linear<B>,
}

impl<B: Backend> Gpt2<B> {
    fn forward(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, s] = ids.dims();
        let d = self.wte.dims()[1];
        let (h, hd) = (self.heads, d / self.heads);
        let mut x = self
            .wte
            .clone()
            .select(0, ids.reshape([b * s]))
            .reshape([b, s, d]); // [b, s, d]
        x = x + self.wpe.clone().narrow(0, 0, s).unsqueeze::<3>();
        let mask = Tensor::<B, 2, Bool>::tril_mask([s, s], 0, &x.device())
            .unsqueeze::<4>()
            .expand([b, h, s, s]);
        for blk in &self.blocks {
            let a = blk.ln_1.forward(x.clone());
            let split = |t: Tensor<B, 3>| t.reshape([b, s, h, hd]).swap_dims(1, 2); // [b, h, s, hd]
            let (q, k, v) = (
                split(blk.q.forward(a.clone())),
                split(blk.k.forward(a.clone())),
                split(blk.v.forward(a)),
            );
            let att = q
                .matmul(k.swap_dims(2, 3))
                .div_scalar((hd as f64).sqrt())
                .mask_fill(mask.clone(), f32::NEG_INFINITY);
            let y = softmax(att, 3).matmul(v).swap_dims(1, 2).reshape([b, s, d]); // [b, s, d]
            x = x + blk.o.forward(y);
            let m = blk.proj.forward(gelu_approximate(
                blk.fc.forward(blk.ln_2.forward(x.clone())),
            ));
            x = x + m;
        }
        self.ln_f
            .forward(x)
            .matmul(self.wte.clone().transpose().unsqueeze::<3>()) // [b, s, vocab]
    }
}

fn time(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..STEPS {
        f();
    }
    t.elapsed()
}

fn main() {
    let device = Default::default();
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/gpt2-tiny.arch"
    ))
    .unwrap();
    let g = archc::check_source(&src, &archc::CheckOptions::default())
        .graph
        .expect("gpt2-tiny checks");
    let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
    // The hand-written model takes the runtime model's weights, module by module.
    let node = |path: &str| {
        &model.nodes[plan.slot[&g
            .graph
            .node_indices()
            .find(|n| g.graph[*n].path == path)
            .unwrap()]]
    };
    let ln = |n: &archc_runtime::layers::Norm<B>| {
        let mut l = LayerNormConfig::new(n.weight.val().dims()[0])
            .with_epsilon(n.eps)
            .init::<B>(&device);
        l.gamma = Param::from_tensor(n.weight.val());
        l.beta = n.bias.as_ref().map(|b| Param::from_tensor(b.val()));
        l
    };
    let lin = |l: &Linear<B>| Linear {
        weight: Param::from_tensor(l.weight.val()),
        bias: l.bias.as_ref().map(|b| Param::from_tensor(b.val())),
    };
    let layers = g
        .graph
        .node_weights()
        .filter(|n| n.path.starts_with("trunk.blocks."))
        .count();
    let blocks = (0..layers)
        .map(|i| {
            let b = node(&format!("trunk.blocks.{i}")).block.as_ref().unwrap();
            HandBlock {
                ln_1: ln(&b.attn_norm),
                q: lin(&b.attn.q),
                k: lin(&b.attn.k),
                v: lin(&b.attn.v),
                o: lin(&b.attn.o),
                ln_2: ln(&b.mlp_norm),
                fc: lin(&b.mlp.up),
                proj: lin(&b.mlp.down),
            }
        })
        .collect();
    let hand = Gpt2 {
        wte: node("text.embed").table.as_ref().unwrap().val(),
        wpe: node("text.positions").table.as_ref().unwrap().val(),
        blocks,
        ln_f: ln(node("lm.norm").norm.as_ref().unwrap()),
        heads: 4,
    };
    let ids = Tensor::<B, 2, Int>::random([BATCH, SEQ], Distribution::Uniform(0.0, 256.0), &device);
    let input = HashMap::from([("text".to_string(), ids.clone())]);
    // Same computation first.
    let a: Vec<f32> = model.forward(&plan, &input).unwrap()["lm"]
        .clone()
        .into_data()
        .to_vec()
        .unwrap();
    let b: Vec<f32> = hand.forward(ids.clone()).into_data().to_vec().unwrap();
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "the two models differ by {diff}");
    let runtime_step = || {
        let loss = model.forward(&plan, &input).unwrap()["lm"].clone().mean();
        let _ = loss.backward();
    };
    let hand_step = || {
        let loss = hand.forward(ids.clone()).mean();
        let _ = loss.backward();
    };
    runtime_step();
    hand_step();
    // Paired rounds (each times both, in alternating order), so drift on a shared machine
    // hits both sides of a ratio alike; the median of the per-round ratios is reported.
    let (mut rt, mut hw, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (r, h) = if round % 2 == 0 {
            let r = time(runtime_step);
            (r, time(hand_step))
        } else {
            let h = time(hand_step);
            (time(runtime_step), h)
        };
        ratios.push(h.as_secs_f64() / r.as_secs_f64());
        rt.push(r);
        hw.push(h);
    }
    rt.sort();
    hw.sort();
    ratios.sort_by(f64::total_cmp);
    let tokens = (BATCH * SEQ * STEPS) as f64;
    let (r, h) = (
        tokens / rt[ROUNDS / 2].as_secs_f64(),
        tokens / hw[ROUNDS / 2].as_secs_f64(),
    );
    let ratio = ratios[ROUNDS / 2];
    println!("GPT-2-tiny forward+backward, batch {BATCH} x seq {SEQ}, NdArray CPU, {ROUNDS} paired rounds of {STEPS} steps");
    println!("| model | tokens/s (median) |");
    println!("|---|---:|");
    println!("| runtime (archc IR -> burn) | {r:.0} |");
    println!("| hand-written burn | {h:.0} |");
    println!(
        "ratio runtime / hand-written, median of paired rounds = {ratio:.3} (range {:.3}..{:.3}; goal >= 0.97): {}",
        ratios[0],
        ratios[ROUNDS - 1],
        if ratio >= 0.97 { "met" } else { "MISSED" }
    );
}
