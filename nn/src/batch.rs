//! A batch, its layout, and the attention masks the layout implies (archc's
//! docs/semantics.md, "A batch" and "Attention masks").
//!
//! Every sequence of a batch has the same layout: a list of segments, each a span of one
//! stem's modality (`text 8, image 16, text 8`). A stem's inputs hold its segments
//! concatenated in layout order: ids `[b, n]` for tokens and codes, rows `[b, n, dim]`
//! for features.

use crate::data::HostBatch;
use burn::tensor::{backend::Backend, Bool, Int, Tensor, TensorData};
use std::collections::HashMap;

/// An attention region beyond causal, for one modality (a `.arch` file's `masks:`).
#[derive(Clone, Debug, PartialEq)]
pub enum Region {
    /// Positions in one span see each other.
    Bidirectional,
    /// The modality's first `n` positions see each other.
    Prefix(u64),
    /// A span's positions form groups of s1², s2², ... positions, each seeing its own
    /// group and every earlier one (VAR's next-scale prediction).
    Scales(Vec<u64>),
    /// GPT-BERT's MNTP: positions in one span see each other in a sequence with masked
    /// rows of the modality.
    Mntp,
}

/// Every modality's attention region: (modality, region).
pub type Regions = [(String, Region)];

#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    /// (stem, length) in sequence order.
    pub layout: Vec<(String, usize)>,
    pub ids: HashMap<String, Tensor<B, 2, Int>>,
    pub features: HashMap<String, Tensor<B, 3>>,
    /// Per `mask_tokens` modality, `[b, n]`: true where the row is replaced by the
    /// learned mask token (the trainer samples these; none means nothing is masked).
    pub masked: HashMap<String, Tensor<B, 2, Bool>>,
    /// Passes per `sampled` loop, by loop path (the trainer draws these; a loop not named
    /// runs its mean, as at inference).
    pub steps: HashMap<String, usize>,
}

impl<B: Backend> Batch<B> {
    /// A batch of this layout with no inputs yet, nothing masked and no drawn steps.
    pub fn new(layout: Vec<(String, usize)>) -> Self {
        Batch {
            layout,
            ids: HashMap::new(),
            features: HashMap::new(),
            masked: HashMap::new(),
            steps: HashMap::new(),
        }
    }

    pub fn batch_size(&self) -> usize {
        self.ids
            .values()
            .map(|t| t.dims()[0])
            .chain(self.features.values().map(|t| t.dims()[0]))
            .next()
            .unwrap_or(0)
    }

    pub fn seq_len(&self) -> usize {
        self.layout.iter().map(|s| s.1).sum()
    }

    /// Sequence positions of a domain: every position for `S`, a modality's for `S_m`.
    pub fn positions(&self, rows: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        for (stem, len) in &self.layout {
            if rows == "S" || rows.strip_prefix("S_") == Some(stem.as_str()) {
                out.extend(at..at + len);
            }
            at += len;
        }
        out
    }

    /// For each position: its modality, its segment, its index among the modality's
    /// positions, and its index within its segment.
    fn tags(&self) -> Vec<(&str, usize, usize, usize)> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (seg, (stem, len)) in self.layout.iter().enumerate() {
            for within in 0..*len {
                let k = seen.entry(stem).or_insert(0);
                out.push((stem.as_str(), seg, *k, within));
                *k += 1;
            }
        }
        out
    }

    /// The attention mask over the positions of `rows`: true where a position may NOT
    /// attend. Causal, except that positions in one span of a `bidirectional` modality
    /// see each other, a modality's first `len` positions under `prefix(len)` do too, and
    /// under `scales(s1, s2, ...)` a span's positions form consecutive groups of s1², s2²,
    /// ... positions, each seeing its own group and every earlier one (VAR's next-scale
    /// prediction); positions past the last group are causal. A sequence with masked
    /// rows of an `mntp` modality (GPT-BERT) sees both ways within that modality's spans.
    ///
    /// # Shapes
    /// -> `[b, n, n]`, n the number of positions of `rows`
    pub fn mask(&self, rows: &str, regions: &Regions, device: &B::Device) -> Tensor<B, 3, Bool> {
        self.mask_for(rows, regions, self.batch_size(), device)
    }

    /// [`Batch::mask`] for `b` sequences of this layout (the batch may hold no tensors).
    pub fn mask_for(
        &self,
        rows: &str,
        regions: &Regions,
        b: usize,
        device: &B::Device,
    ) -> Tensor<B, 3, Bool> {
        let n = self.positions(rows).len();
        let Some(open) = self.open(regions) else {
            return Tensor::<B, 2, Bool>::from_data(
                TensorData::new(self.blocked(rows, regions, &[]), [n, n]),
                device,
            )
            .unsqueeze::<3>()
            .expand([b, n, n]);
        };
        let mut per: HashMap<&[String], Tensor<B, 2, Bool>> = HashMap::new();
        let masks: Vec<Tensor<B, 3, Bool>> = open
            .iter()
            .map(|o| {
                per.entry(o.as_slice())
                    .or_insert_with(|| {
                        Tensor::from_data(
                            TensorData::new(self.blocked(rows, regions, o), [n, n]),
                            device,
                        )
                    })
                    .clone()
                    .unsqueeze::<3>()
            })
            .collect();
        Tensor::cat(masks, 0) // [b, n, n]
    }

    /// Per sequence, the `mntp` modalities it has masked rows of: those attend both ways
    /// within a span. `None` when no `mntp` modality is masked in this batch.
    fn open(&self, regions: &Regions) -> Option<Vec<Vec<String>>> {
        let mut open: Option<Vec<Vec<String>>> = None;
        for (modality, region) in regions {
            let (Region::Mntp, Some(t)) = (region, self.masked.get(modality)) else {
                continue;
            };
            let [b, n] = t.dims();
            let rows: Vec<i64> = t
                .clone()
                .int()
                .into_data()
                .convert::<i64>()
                .to_vec()
                .unwrap_or_default();
            let open = open.get_or_insert_with(|| vec![Vec::new(); b]);
            for (e, o) in open.iter_mut().enumerate() {
                if rows
                    .get(e * n..(e + 1) * n)
                    .is_some_and(|r| r.iter().any(|x| *x != 0))
                {
                    o.push(modality.clone());
                }
            }
        }
        open
    }

    /// `[n * n]`, true where a position of `rows` may not attend (see [`Batch::mask`]);
    /// `open`: the `mntp` modalities whose spans attend both ways.
    fn blocked(&self, rows: &str, regions: &Regions, open: &[String]) -> Vec<bool> {
        let pos = self.positions(rows);
        let tags = self.tags();
        let n = pos.len();
        let mut blocked = vec![false; n * n];
        for (a, &i) in pos.iter().enumerate() {
            for (c, &j) in pos.iter().enumerate() {
                let (mi, si, ki, wi) = tags[i];
                let (mj, sj, kj, wj) = tags[j];
                let both_way = mi == mj
                    && regions.iter().any(|(m, r)| {
                        m == mi
                            && match r {
                                Region::Bidirectional => si == sj,
                                Region::Mntp => si == sj && open.iter().any(|o| o == mi),
                                Region::Prefix(len) => (ki as u64) < *len && (kj as u64) < *len,
                                Region::Scales(sides) => {
                                    si == sj
                                        && matches!(
                                            (scale_of(sides, wi), scale_of(sides, wj)),
                                            (Some(a), Some(b)) if b <= a
                                        )
                                }
                            }
                    });
                blocked[a * n + c] = j > i && !both_way;
            }
        }
        blocked
    }
}

impl<B: Backend> Batch<B> {
    /// A modality's positions of a whole-sequence value.
    ///
    /// # Shapes
    /// `[b, S, d]` -> `[b, n_m, d]`
    pub fn gather(&self, x: Tensor<B, 3>, rows: &str) -> Tensor<B, 3> {
        let device = x.device();
        x.select(1, index::<B>(&self.positions(rows), &device))
    }

    /// The trunk's input: each stem's rows at its segments' positions, in layout order.
    ///
    /// # Shapes
    /// `[b, n_stem, d]` per stem -> `[b, S, d]`
    pub fn merge(&self, parts: &[(&str, Tensor<B, 3>)]) -> Result<Tensor<B, 3>, String> {
        let mut used: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (stem, len) in &self.layout {
            let Some((_, v)) = parts.iter().find(|(s, _)| s == stem) else {
                return Err(format!(
                    "the batch has `{stem}` segments, but the trunk does not read that stem"
                ));
            };
            let at = used.entry(stem).or_insert(0);
            out.push(v.clone().narrow(1, *at, *len));
            *at += len;
        }
        Ok(Tensor::cat(out, 1))
    }

    /// The device of the batch's tensors.
    pub fn device(&self) -> Result<B::Device, String> {
        self.ids
            .values()
            .map(|t| t.device())
            .chain(self.features.values().map(|t| t.device()))
            .next()
            .ok_or_else(|| "the batch holds no inputs".to_string())
    }

    /// A stem's ids.
    pub fn ids(&self, stem: &str) -> Result<Tensor<B, 2, Int>, String> {
        self.ids
            .get(stem)
            .cloned()
            .ok_or_else(|| format!("no ids given for `{stem}`"))
    }

    /// A stem's feature rows.
    pub fn features(&self, stem: &str) -> Result<Tensor<B, 3>, String> {
        self.features
            .get(stem)
            .cloned()
            .ok_or_else(|| format!("no features given for `{stem}`"))
    }
}

/// Indices as a tensor (for `select`).
pub fn index<B: Backend>(idx: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}

/// Which scale group a position within a span falls in: groups of side² positions.
fn scale_of(sides: &[u64], within: usize) -> Option<usize> {
    let mut end = 0u64;
    for (g, s) in sides.iter().enumerate() {
        end = end.saturating_add(s.saturating_mul(*s));
        if (within as u64) < end {
            return Some(g);
        }
    }
    None
}

/// A host batch (data readers' plain ids and rows) as tensors on `device`.
impl<B: Backend> Batch<B> {
    pub fn from_host(host: &HostBatch, device: &B::Device) -> Self {
        let mut batch = Batch::new(host.layout.clone());
        let b = host.batch;
        for (stem, ids) in &host.ids {
            let n = ids.len().checked_div(b).unwrap_or(0);
            let data = TensorData::new(ids.clone(), [b, n]);
            batch
                .ids
                .insert(stem.clone(), Tensor::<B, 2, Int>::from_data(data, device));
        }
        for (stem, rows) in &host.features {
            let d = host.dims.get(stem).copied().unwrap_or(1).max(1);
            let n = rows.len().checked_div(b * d).unwrap_or(0);
            let data = TensorData::new(rows.clone(), [b, n, d]);
            batch
                .features
                .insert(stem.clone(), Tensor::<B, 3>::from_data(data, device));
        }
        batch
    }
}
