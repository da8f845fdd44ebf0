//! `CRATE_NAME train --data shards:PATH [options]`: trains as `archc train` does, with its
//! options, metrics and checkpoint format (`CRATE_NAME train --help` lists them).
//!
//! `CRATE_NAME forward WEIGHTS BATCH OUT`: loads the weights (safetensors, `.arch` names),
//! runs the model on a batch (a safetensors file: `<stem>.ids` i64 `[b, n]`,
//! `<stem>.features` f32 `[b, n, dim]`, `<stem>.masked` i64 0/1 `[b, n]`, metadata `layout`
//! "stem:n,..."), and writes each head's output and each loop's passes (`steps.<loop>`).

use burn::backend::ndarray::NdArrayDevice;
use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Int, Tensor, TensorData};
use archc_nn::batch::Batch;
use archc_nn::params::Parameters;
use archc_nn::weights::{Saver, Weights};
use CRATE_NAME::model::ModelConfig;
use CRATE_NAME::train::{train, Options, Stop, USAGE};
use std::process::ExitCode;

type B = NdArray<f32>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let me = args.first().map_or("model", |s| s.as_str());
    let result = match args.get(1).map(String::as_str) {
        Some("forward") if args.len() == 5 => forward(&args[2], &args[3], &args[4]).map_err(Stop::from),
        Some("train") if args.iter().any(|a| a == "--help" || a == "-h") => {
            println!("usage: {me} {USAGE}");
            Ok(())
        }
        Some("train") => Options::parse(&args[2..]).map_err(Stop::from).and_then(|o| train::<Autodiff<B>>(&o, NdArrayDevice::Cpu)),
        _ => Err(Stop(2, format!("usage: {me} {USAGE}\n       {me} forward WEIGHTS BATCH OUT"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop(code, e)) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn batch(bytes: &[u8], device: &NdArrayDevice) -> Result<Batch<B>, String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let layout = meta.metadata().as_ref().and_then(|m| m.get("layout")).ok_or("the batch has no `layout` metadata")?;
    let mut segments = Vec::new();
    for seg in layout.split(',') {
        let (stem, n) = seg.split_once(':').ok_or_else(|| format!("bad layout segment `{seg}`"))?;
        segments.push((stem.to_string(), n.parse::<usize>().map_err(|_| format!("bad layout segment `{seg}`"))?));
    }
    let mut out = Batch::new(segments);
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    for (name, view) in st.tensors() {
        let (stem, kind) = name.rsplit_once('.').ok_or_else(|| format!("tensor `{name}` is not `<stem>.<kind>`"))?;
        let shape = view.shape().to_vec();
        match (kind, shape.as_slice()) {
            ("ids" | "masked", [b, n]) => {
                let v: Vec<i64> = view.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
                let t = Tensor::<B, 2, Int>::from_data(TensorData::new(v, [*b, *n]), device);
                if kind == "ids" {
                    out.ids.insert(stem.to_string(), t);
                } else {
                    out.masked.insert(stem.to_string(), t.equal_elem(1));
                }
            }
            ("features", [b, n, d]) => {
                let v: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
                out.features.insert(stem.to_string(), Tensor::from_data(TensorData::new(v, [*b, *n, *d]), device));
            }
            _ => return Err(format!("tensor `{name}` of shape {shape:?} is not a batch input")),
        }
    }
    Ok(out)
}

fn forward(weights: &str, batch_path: &str, out: &str) -> Result<(), String> {
    let device = Default::default();
    let mut model = ModelConfig::new().init::<B>(&device);
    let mut w = Weights::from_bytes(&read(weights)?).map_err(|e| e.to_string())?;
    model.visit_params(&mut w).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    let b = batch(&read(batch_path)?, &device)?;
    let output = model.forward(&b)?;
    let mut saver = Saver::default();
    for (head, t) in output.heads {
        saver.put(head, t);
    }
    for (l, n) in output.loop_steps {
        saver.put_raw(format!("steps.{l}"), vec![1], vec![n as f32]);
    }
    std::fs::write(out, saver.to_bytes()).map_err(|e| format!("{out}: {e}"))
}
