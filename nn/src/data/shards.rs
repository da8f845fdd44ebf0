//! `--data shards:PATH`: multimodal examples in safetensors files (docs/data.md).
//!
//! PATH is one `.safetensors` file or a directory of them (read in name order). A file
//! holds N examples: `<stem>.ids` (I64 or I32, `[N, n_stem]`) for a tokens or codes stem,
//! `<stem>.features` (F32, `[N, n_stem, dim]`) for a features stem, and `__metadata__`
//! `"layout": "image:576,text:64"`, the segments every example has. Every file is read
//! and checked against the model when opened and held in memory; a batch draws `batch`
//! examples uniformly over all files.

use super::shard_check::{parse_layout, plans, read_ids, read_rows, Holds, Plan, Where};
use super::{DataError, DataSpec, HostBatch, Source};
use crate::rng::Rng;
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every example of every shard, in memory.
#[derive(Debug)]
pub(super) struct Shards {
    path: String,
    files: usize,
    batch: usize,
    layout: Vec<(String, usize)>,
    /// The layout as the shards spell it.
    layout_text: String,
    plans: Vec<Plan>,
    examples: usize,
    /// Per tokens or codes stem: `[examples, n_stem]`.
    ids: BTreeMap<String, Vec<i64>>,
    /// Per features stem: `[examples, n_stem, dim]`.
    rows: BTreeMap<String, Vec<f32>>,
}

impl Shards {
    /// Reads and checks every shard at `path`.
    pub(super) fn open(path: &str, spec: &DataSpec) -> Result<Self, DataError> {
        let files = list(path)?;
        let mut shards = Shards {
            path: path.to_string(),
            files: files.len(),
            batch: spec.batch,
            layout: Vec::new(),
            layout_text: String::new(),
            plans: Vec::new(),
            examples: 0,
            ids: BTreeMap::new(),
            rows: BTreeMap::new(),
        };
        // The first shard's name: its layout is the one every shard must have.
        let mut first: Option<String> = None;
        for file in &files {
            let name = file.display().to_string();
            let bytes = std::fs::read(file).map_err(|e| DataError::Io {
                path: name.clone(),
                message: e.to_string(),
            })?;
            let bad = |e: safetensors::SafeTensorError| DataError::BadShard {
                path: name.clone(),
                message: e.to_string(),
            };
            let st = SafeTensors::deserialize(&bytes).map_err(bad)?;
            let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(bad)?;
            let text = meta.metadata().as_ref().and_then(|m| m.get("layout"));
            let text = text.ok_or_else(|| DataError::MissingLayout { path: name.clone() })?;
            let layout = parse_layout(&name, text, spec)?;
            match first.take() {
                None => {
                    shards.plans = plans(&layout, spec);
                    (shards.layout, shards.layout_text) = (layout, text.clone());
                    first = Some(name.clone());
                }
                Some(first) if layout != shards.layout => {
                    return Err(DataError::LayoutMismatch {
                        path: name,
                        layout: text.clone(),
                        first,
                        first_layout: shards.layout_text,
                    })
                }
                Some(same) => first = Some(same),
            }
            shards.load(&name, &st)?;
        }
        if shards.examples == 0 {
            return Err(DataError::NoExamples {
                path: path.to_string(),
            });
        }
        Ok(shards)
    }

    /// Checks one shard's tensors against the plans and appends its examples.
    fn load(&mut self, path: &str, st: &SafeTensors) -> Result<(), DataError> {
        let expected: Vec<String> = self.plans.iter().map(Plan::tensor).collect();
        for (name, _) in st.iter() {
            if !expected.iter().any(|e| e == name) {
                return Err(DataError::UnexpectedTensor {
                    path: path.to_string(),
                    tensor: name.to_string(),
                    expected: expected.clone(),
                });
            }
        }
        let mut examples = None;
        for plan in &self.plans {
            let tensor = plan.tensor();
            let view = st.tensor(&tensor).map_err(|_| DataError::MissingTensor {
                path: path.to_string(),
                tensor: tensor.clone(),
            })?;
            let n = *examples.get_or_insert(view.shape().first().copied().unwrap_or(0));
            let at = Where {
                path,
                tensor: &tensor,
                positions: plan.n.max(1),
            };
            let mut shape = vec![n, plan.n];
            match plan.holds {
                Holds::Ids { limit } => {
                    at.shape(view.shape(), &shape)?;
                    let out = self.ids.entry(plan.stem.clone()).or_default();
                    read_ids(&at, view.dtype(), view.data(), limit, out)?;
                }
                Holds::Rows { dim } => {
                    shape.push(dim);
                    at.shape(view.shape(), &shape)?;
                    let out = self.rows.entry(plan.stem.clone()).or_default();
                    read_rows(&at, view.dtype(), view.data(), dim, out)?;
                }
            }
        }
        self.examples = self.examples.saturating_add(examples.unwrap_or(0));
        Ok(())
    }
}

impl Source for Shards {
    fn next_batch(&mut self, rng: &mut Rng) -> Result<HostBatch, DataError> {
        let picks: Vec<usize> = (0..self.batch).map(|_| rng.below(self.examples)).collect();
        let mut ids = BTreeMap::new();
        let mut features = BTreeMap::new();
        let mut dims = BTreeMap::new();
        for plan in &self.plans {
            let per = plan.per_example();
            match plan.holds {
                Holds::Ids { .. } => {
                    let all = &self.ids[&plan.stem];
                    let out: Vec<i64> = picks
                        .iter()
                        .flat_map(|&e| &all[e * per..][..per])
                        .copied()
                        .collect();
                    ids.insert(plan.stem.clone(), out); // [batch, n_stem]
                }
                Holds::Rows { dim } => {
                    let all = &self.rows[&plan.stem];
                    let out: Vec<f32> = picks
                        .iter()
                        .flat_map(|&e| &all[e * per..][..per])
                        .copied()
                        .collect();
                    features.insert(plan.stem.clone(), out); // [batch, n_stem, dim]
                    dims.insert(plan.stem.clone(), dim);
                }
            }
        }
        Ok(HostBatch {
            batch: self.batch,
            layout: self.layout.clone(),
            ids,
            features,
            dims,
        })
    }

    fn describe(&self) -> String {
        format!(
            "shards {}: {} file(s), {} examples of layout {}, held in memory",
            self.path, self.files, self.examples, self.layout_text
        )
    }
}

/// PATH itself, or a directory's `*.safetensors` in name order.
fn list(path: &str) -> Result<Vec<PathBuf>, DataError> {
    let p = Path::new(path);
    if !p.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_string(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(p).map_err(io)? {
        let file = entry.map_err(io)?.path();
        if file.is_file() && file.extension().is_some_and(|e| e == "safetensors") {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::NoShards {
            path: path.to_string(),
        });
    }
    Ok(files)
}

#[cfg(test)]
#[path = "shards_tests.rs"]
mod tests;
