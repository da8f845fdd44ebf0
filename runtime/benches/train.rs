//! Training tokens/s on CPU for GPT-2-tiny (models/gpt2-tiny.arch) on the built-in task:
//! whole optimizer steps (data, draws, forward, losses, backward, gradient collection,
//! clipping, AdamW) against forward + backward alone on the same batches, alternated in one
//! run, so the ratio shows what the trainer adds. Run:
//! `cargo bench -p archc-runtime --bench train`.

use archc_runtime::batch::Batch;
use archc_runtime::data::{self, Source};
use archc_runtime::model::graph_to_model;
use archc_runtime::objectives::head_losses;
use archc_runtime::optim::AdamWConfig;
use archc_runtime::rng::Rng;
use archc_runtime::train::{data_spec, trainer, TrainConfig};
use burn::backend::{Autodiff, NdArray};
use std::time::Instant;

type B = Autodiff<NdArray<f32>>;

const ROUNDS: usize = 11;
const STEPS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/gpt2-tiny.arch"
    ))
    .unwrap();
    let g = archc::check_source(&src, &archc::CheckOptions::default())
        .graph
        .unwrap();
    let device = Default::default();
    println!("GPT-2-tiny (124,672 parameters), CPU (ndarray), batch 8, median of {ROUNDS} rounds of {STEPS} steps");
    println!("| data | tokens/step | train step tokens/s | fwd+bwd tokens/s | train / fwd+bwd |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for entities in [12, 40] {
        let arg = format!("synthetic:entities={entities}");
        let spec = data_spec(&g, 8, None);
        let (model, plan) = graph_to_model::<B>(&g, &device).unwrap();
        let config = TrainConfig {
            horizon: 1_000_000,
            accum: 1,
            adamw: AdamWConfig::default(),
            min_lr: 1e-4,
            warmup: 10,
            clip: 1.0,
        };
        let mut t = trainer(model, plan, config, 0, device).unwrap();
        let mut src: Box<dyn Source> = data::open(&arg, &spec).unwrap();
        let mut fb_src: Box<dyn Source> = data::open(&arg, &spec).unwrap();
        let mut fb_rng = Rng::new(1);
        let mut draws = Rng::new(2);
        let tokens = src.next_batch(&mut Rng::new(0)).unwrap().tokens();
        let (mut train, mut fb) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS + 1 {
            let start = Instant::now();
            for _ in 0..STEPS {
                t.step(src.as_mut()).unwrap();
            }
            let a = start.elapsed().as_secs_f64();
            let start = Instant::now();
            for _ in 0..STEPS {
                let host = fb_src.next_batch(&mut fb_rng).unwrap();
                let batch = Batch::<B>::from_host(&host, &device);
                let out = t.model.model.forward_batch(&t.model.plan, &batch).unwrap();
                let l =
                    head_losses(&t.model.model, &t.model.plan, &out, &batch, &mut draws).unwrap();
                let _grads = l[0].loss.clone().backward();
            }
            let b = start.elapsed().as_secs_f64();
            if round > 0 {
                // round 0 warms up
                train.push((STEPS * tokens) as f64 / a);
                fb.push((STEPS * tokens) as f64 / b);
            }
        }
        let (a, b) = (median(train), median(fb));
        println!("| `{arg}` | {tokens} | {a:.0} | {b:.0} | {:.3} |", a / b);
    }
}
