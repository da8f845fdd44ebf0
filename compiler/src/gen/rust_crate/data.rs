//! Training data: archc's multimodal shards (archc's docs/data.md), the files `archc data`
//! writes. PATH is one `.safetensors` file or a directory of them (read in name order).
//! A file holds N examples: `<stem>.ids` (I64 or I32, `[N, n_stem]`) for a tokens or
//! codes stem, `<stem>.features` (F32, `[N, n_stem, dim]`) for a features stem, and the
//! metadata `layout` (`"image:16,text:24"`), the segments of every example. Every file is
//! checked against the model when opened; a batch draws examples uniformly, as archc does.

use archc_nn::batch::Batch;
use archc_nn::rng::Rng;
use crate::model::STEMS;
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a stem reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StemData {
    Tokens { vocab: u64, max_len: u64 },
    Codes { codebook: u64, rows: u64 },
    Features { dim: u64, rows: u64 },
}

/// A stem of the model, in the trunk's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stem {
    pub name: &'static str,
    pub data: StemData,
}

/// Every example of every shard, in memory.
pub struct Shards {
    pub layout: Vec<(String, usize)>,
    layout_text: String,
    files: usize,
    examples: usize,
    /// Per tokens or codes stem: `[examples, n_stem]`.
    ids: BTreeMap<&'static str, Vec<i64>>,
    /// Per features stem: `[examples, n_stem, dim]`.
    rows: BTreeMap<&'static str, (usize, Vec<f32>)>,
}

/// A stem's positions per example: its segments' summed length.
fn positions(layout: &[(String, usize)], stem: &str) -> usize {
    layout.iter().filter(|(s, _)| s == stem).map(|(_, n)| n).sum()
}

/// Parses `image:16,text:24` and checks it against the model's stems.
fn parse_layout(path: &str, text: &str) -> Result<Vec<(String, usize)>, String> {
    let bad = |why: String| format!("{path}: layout `{text}` {why}");
    let mut layout = Vec::new();
    for item in text.split(',').map(str::trim) {
        let seg = item.rsplit_once(':').and_then(|(s, n)| Some((s.trim(), n.trim().parse::<usize>().ok()?)));
        let Some((stem, n)) = seg.filter(|(s, n)| !s.is_empty() && *n > 0) else {
            return Err(bad(format!("has `{item}`, not `stem:length` with a length of at least 1")));
        };
        let Some(info) = STEMS.iter().find(|s| s.name == stem) else {
            let names: Vec<&str> = STEMS.iter().map(|s| s.name).collect();
            return Err(bad(format!("names stem `{stem}`, which the model lacks (it has {})", names.join(", "))));
        };
        if let StemData::Codes { rows, .. } | StemData::Features { rows, .. } = info.data {
            if n as u64 != rows {
                return Err(bad(format!("gives stem `{stem}` a segment of {n} rows; its images have {rows}")));
            }
        }
        layout.push((stem.to_string(), n));
    }
    for s in STEMS {
        let n = layout.iter().filter(|(t, _)| t == s.name).try_fold(0u64, |a, (_, n)| a.checked_add(*n as u64));
        if n == Some(0) {
            return Err(bad(format!("has no segment of the model's stem `{}`, which needs data", s.name)));
        }
        if let StemData::Tokens { max_len, .. } = s.data {
            if n.is_none_or(|n| n > max_len) {
                return Err(bad(format!("gives stem `{}` more positions than its max_len {max_len}", s.name)));
            }
        }
    }
    Ok(layout)
}

impl Shards {
    /// Reads and checks every shard at `path`.
    pub fn open(path: &str) -> Result<Self, String> {
        let mut out = Shards { layout: Vec::new(), layout_text: String::new(), files: 0, examples: 0, ids: BTreeMap::new(), rows: BTreeMap::new() };
        for file in list(path)? {
            let name = file.display().to_string();
            let bytes = std::fs::read(&file).map_err(|e| format!("{name}: {e}"))?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| format!("{name}: not a readable safetensors file: {e}"))?;
            let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| format!("{name}: {e}"))?;
            let text = meta.metadata().as_ref().and_then(|m| m.get("layout")).ok_or_else(|| format!("{name}: no `layout` metadata (a shard says which segments each example has)"))?;
            let layout = parse_layout(&name, text)?;
            if out.files == 0 {
                (out.layout, out.layout_text) = (layout, text.clone());
            } else if layout != out.layout {
                return Err(format!("{name}: layout `{text}` differs from the first shard's `{}`", out.layout_text));
            }
            out.load(&name, &st)?;
            out.files += 1;
        }
        if out.examples == 0 {
            return Err(format!("{path}: the shards hold no examples"));
        }
        Ok(out)
    }

    fn load(&mut self, path: &str, st: &SafeTensors) -> Result<(), String> {
        let tensor = |s: &Stem| match s.data {
            StemData::Features { .. } => format!("{}.features", s.name),
            _ => format!("{}.ids", s.name),
        };
        let expected: Vec<String> = STEMS.iter().map(tensor).collect();
        for (name, _) in st.iter() {
            if !expected.iter().any(|e| e == name) {
                return Err(format!("{path}: tensor `{name}` is not one the model reads ({})", expected.join(", ")));
            }
        }
        let mut examples = None;
        for s in STEMS {
            let t = tensor(s);
            let view = st.tensor(&t).map_err(|_| format!("{path}: tensor `{t}` is missing"))?;
            let n = *examples.get_or_insert(view.shape().first().copied().unwrap_or(0));
            let per = positions(&self.layout, s.name);
            let mut want = vec![n, per];
            let wrong = |want: &[usize]| format!("{path}: tensor `{t}` has shape {:?}; {want:?} is expected", view.shape());
            match s.data {
                StemData::Tokens { vocab: limit, .. } | StemData::Codes { codebook: limit, .. } => {
                    if view.shape() != want.as_slice() {
                        return Err(wrong(&want));
                    }
                    let width = match view.dtype() {
                        Dtype::I64 => 8,
                        Dtype::I32 => 4,
                        other => return Err(format!("{path}: tensor `{t}` is {other:?}; I64 or I32 is expected")),
                    };
                    let out = self.ids.entry(s.name).or_default();
                    for (e, c) in view.data().chunks_exact(width).enumerate() {
                        let id = if width == 8 { i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) } else { i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))) };
                        if u64::try_from(id).map_or(true, |i| i >= limit) {
                            return Err(format!("{path}: tensor `{t}`, example {} position {}: id {id} is outside 0..{limit}", e / per.max(1), e % per.max(1)));
                        }
                        out.push(id);
                    }
                }
                StemData::Features { dim, .. } => {
                    let dim = dim as usize;
                    want.push(dim);
                    if view.shape() != want.as_slice() {
                        return Err(wrong(&want));
                    }
                    if view.dtype() != Dtype::F32 {
                        return Err(format!("{path}: tensor `{t}` is {:?}; F32 is expected", view.dtype()));
                    }
                    let out = &mut self.rows.entry(s.name).or_insert((dim, Vec::new())).1;
                    for (e, c) in view.data().chunks_exact(4).enumerate() {
                        let v = f32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
                        if !v.is_finite() {
                            let row = e / dim.max(1);
                            return Err(format!("{path}: tensor `{t}`, example {} position {}: a value is not finite", row / per.max(1), row % per.max(1)));
                        }
                        out.push(v);
                    }
                }
            }
        }
        self.examples = self.examples.saturating_add(examples.unwrap_or(0));
        Ok(())
    }

    /// Examples held.
    pub fn examples(&self) -> usize {
        self.examples
    }

    pub fn describe(&self) -> String {
        format!("{} file(s), {} examples of layout {}", self.files, self.examples, self.layout_text)
    }

    /// `batch` examples drawn uniformly (archc's draw: `rng.below(examples)` each).
    pub fn next_batch<B: Backend>(&self, batch: usize, rng: &mut Rng, device: &B::Device) -> Batch<B> {
        let picks: Vec<usize> = (0..batch).map(|_| rng.below(self.examples)).collect();
        let mut out = Batch::new(self.layout.clone());
        for (stem, all) in &self.ids {
            let per = positions(&self.layout, stem);
            let v: Vec<i64> = picks.iter().flat_map(|&e| &all[e * per..][..per]).copied().collect();
            out.ids.insert(stem.to_string(), Tensor::<B, 2, Int>::from_data(TensorData::new(v, [batch, per]), device));
        }
        for (stem, (dim, all)) in &self.rows {
            let per = positions(&self.layout, stem) * dim;
            let v: Vec<f32> = picks.iter().flat_map(|&e| &all[e * per..][..per]).copied().collect();
            out.features.insert(stem.to_string(), Tensor::from_data(TensorData::new(v, [batch, per / dim.max(&1), *dim]), device));
        }
        out
    }
}

/// PATH itself, or a directory's `*.safetensors` in name order.
fn list(path: &str) -> Result<Vec<PathBuf>, String> {
    let p = Path::new(path);
    if !p.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(p).map_err(|e| format!("{path}: {e}"))? {
        let file = entry.map_err(|e| format!("{path}: {e}"))?.path();
        if file.is_file() && file.extension().is_some_and(|e| e == "safetensors") {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("{path}: the directory holds no .safetensors shards"));
    }
    Ok(files)
}
