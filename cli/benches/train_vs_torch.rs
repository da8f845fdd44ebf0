//! Training tokens/s on CPU of the same model through the runtime and through the
//! generated PyTorch code (archc gen torch), alternated in one run, same batches' shape,
//! same thread count; prints each and the ratio. Goal: runtime >= 1.0x PyTorch eager.
//! Needs Python 3 with torch. Run: `cargo bench -p archc-cli --bench train_vs_torch`.

use archc_runtime::data::{self, Source};
use archc_runtime::model::graph_to_model;
use archc_runtime::optim::AdamWConfig;
use archc_runtime::rng::Rng;
use archc_runtime::train::{data_spec, trainer, TrainConfig};
use burn::backend::{Autodiff, NdArray};
use std::process::Command;
use std::time::Instant;

type B = Autodiff<NdArray<f32>>;

const ROUNDS: usize = 5;
const STEPS: usize = 10;
const BATCH: usize = 8;
const THREADS: usize = 2;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let src = std::fs::read_to_string(root.join("models/gpt2-tiny.arch")).unwrap();
    let g = archc::check_source(&src, &archc::CheckOptions::default())
        .graph
        .unwrap();
    let dir = std::env::temp_dir().join(format!("archc-bench-torch-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("gen")).unwrap();
    for f in archc::gen::graph_to_torch(&g).unwrap() {
        std::fs::write(dir.join("gen").join(&f.path), f.text).unwrap();
    }
    let device = Default::default();
    println!("GPT-2-tiny (124,672 parameters), CPU, batch {BATCH}, {THREADS} threads each, median of {ROUNDS} rounds of {STEPS} steps");
    println!("| data | runtime tokens/s | PyTorch eager tokens/s | runtime / PyTorch |");
    println!("| --- | ---: | ---: | ---: |");
    for entities in [12, 40] {
        let arg = format!("synthetic:entities={entities}");
        // The same task as a shard for PyTorch.
        let spec = data_spec(&g, 256, None);
        let host = data::open(&arg, &spec)
            .unwrap()
            .next_batch(&mut Rng::new(0))
            .unwrap();
        let mut saver = archc_runtime::weights::Saver::default();
        let ids = vec![(
            "text.ids".to_string(),
            vec![256, host.stem_len("text")],
            host.ids["text"].clone(),
        )];
        let shard = dir.join(format!("data-{entities}.safetensors"));
        let layout = format!("text:{}", host.stem_len("text"));
        std::fs::write(&shard, saver.to_bytes_with(&ids, &[("layout", layout)])).unwrap();
        saver = Default::default();
        let _ = saver;

        let spec = data_spec(&g, BATCH, None);
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
        let mut source: Box<dyn Source> = data::open(&arg, &spec).unwrap();
        let tokens = source.next_batch(&mut Rng::new(0)).unwrap().tokens();
        for _ in 0..3 {
            t.step(source.as_mut()).unwrap();
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..STEPS {
                t.step(source.as_mut()).unwrap();
            }
            ours.push((STEPS * tokens) as f64 / start.elapsed().as_secs_f64());
            let o = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
                .arg(root.join("tests/gen/bench_torch.py"))
                .arg(dir.join("gen"))
                .arg(&shard)
                .args([BATCH.to_string(), STEPS.to_string(), THREADS.to_string()])
                .env("OMP_NUM_THREADS", THREADS.to_string())
                .output()
                .expect("python3 with torch");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            theirs.push(
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .unwrap(),
            );
        }
        let (a, b) = (median(ours), median(theirs));
        println!(
            "| `{arg}` ({tokens} tokens a step) | {a:.0} | {b:.0} | {:.3} |",
            a / b
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
