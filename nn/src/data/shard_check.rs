//! Checks of a shard against the model (shards.rs): its layout, and each tensor's
//! dtype, shape, ids and values, with errors naming the file and the tensor.

use super::{DataError, DataSpec, StemData, StemInfo};
use safetensors::Dtype;

/// What one stem of the layout holds.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Holds {
    /// `<stem>.ids`, each in `0..limit` (the vocab or codebook).
    Ids { limit: u64 },
    /// `<stem>.features`, rows `dim` wide.
    Rows { dim: usize },
}

/// One stem of the layout: its positions per example and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Plan {
    pub stem: String,
    /// n_stem: the summed length of the stem's segments.
    pub n: usize,
    pub holds: Holds,
}

impl Plan {
    /// The tensor's name in a shard.
    pub fn tensor(&self) -> String {
        match self.holds {
            Holds::Ids { .. } => format!("{}.ids", self.stem),
            Holds::Rows { .. } => format!("{}.features", self.stem),
        }
    }

    /// Values per example: n_stem, times dim for rows.
    pub fn per_example(&self) -> usize {
        match self.holds {
            Holds::Ids { .. } => self.n,
            Holds::Rows { dim } => self.n.saturating_mul(dim),
        }
    }
}

/// Parses `image:576,text:64` and checks it against the model: every segment names a
/// stem, an image segment is one image (the stem's `rows`), a text stem's positions fit
/// its `max_len`, and every stem of the model has a segment.
pub(super) fn parse_layout(
    path: &str,
    text: &str,
    spec: &DataSpec,
) -> Result<Vec<(String, usize)>, DataError> {
    let bad = |problem: String| DataError::BadLayout {
        path: path.to_string(),
        layout: text.to_string(),
        problem,
    };
    let mut layout = Vec::new();
    for item in text.split(',').map(str::trim) {
        let Some((stem, len)) = segment(item) else {
            let problem = format!("has `{item}`, not `stem:length` with a length of at least 1");
            return Err(bad(problem));
        };
        check_segment(spec, stem, len).map_err(bad)?;
        layout.push((stem.to_string(), len));
    }
    check_stems(spec, &layout).map_err(bad)?;
    Ok(layout)
}

/// `stem:length` with a non-empty stem and a length of at least 1.
fn segment(item: &str) -> Option<(&str, usize)> {
    let (stem, len) = item.rsplit_once(':')?;
    let (stem, len) = (stem.trim(), len.trim().parse::<usize>().ok()?);
    (!stem.is_empty() && len > 0).then_some((stem, len))
}

/// Why a segment does not fit the model: an unknown stem, or an image segment that is
/// not one image.
fn check_segment(spec: &DataSpec, stem: &str, len: usize) -> Result<(), String> {
    let Some(info) = spec.stems.iter().find(|s| s.name == stem) else {
        let names: Vec<&str> = spec.stems.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "names stem `{stem}`, which the model lacks (it has {})",
            names.join(", ")
        ));
    };
    match info.data {
        StemData::Codes { rows, .. } | StemData::Features { rows, .. } if len as u64 != rows => {
            Err(format!(
                "gives stem `{stem}` a segment of {len} rows; its images have {rows}"
            ))
        }
        _ => Ok(()),
    }
}

/// Why the layout does not fit the model's stems: one without a segment, or a text stem
/// given more positions than its `max_len`.
fn check_stems(spec: &DataSpec, layout: &[(String, usize)]) -> Result<(), String> {
    for s in &spec.stems {
        let n = layout
            .iter()
            .filter(|(t, _)| *t == s.name)
            .try_fold(0u64, |a, (_, n)| a.checked_add(*n as u64));
        if n == Some(0) {
            return Err(format!(
                "has no segment of the model's stem `{}`, which needs data",
                s.name
            ));
        }
        if let StemData::Tokens { max_len, .. } = s.data {
            if n.is_none_or(|n| n > max_len) {
                return Err(format!(
                    "gives stem `{}` more positions than its max_len {max_len}",
                    s.name
                ));
            }
        }
    }
    Ok(())
}

/// One plan per stem of the model (every one is in the layout), in the model's order.
pub(super) fn plans(layout: &[(String, usize)], spec: &DataSpec) -> Vec<Plan> {
    let plan = |s: &StemInfo| {
        let n = layout
            .iter()
            .filter(|(t, _)| *t == s.name)
            .map(|(_, n)| n)
            .sum();
        let holds = match s.data {
            StemData::Tokens { vocab: limit, .. }
            | StemData::Codes {
                codebook: limit, ..
            } => Holds::Ids { limit },
            StemData::Features { dim, .. } => Holds::Rows {
                dim: usize::try_from(dim).unwrap_or(usize::MAX),
            },
        };
        Plan {
            stem: s.name.clone(),
            n,
            holds,
        }
    };
    spec.stems.iter().map(plan).collect()
}

/// A tensor being read, for its errors.
pub(super) struct Where<'a> {
    pub path: &'a str,
    pub tensor: &'a str,
    /// The stem's positions per example (n_stem, at least 1), to locate a bad value.
    pub positions: usize,
}

impl Where<'_> {
    /// An error unless `found` is `expected`.
    pub fn shape(&self, found: &[usize], expected: &[usize]) -> Result<(), DataError> {
        if found == expected {
            return Ok(());
        }
        Err(DataError::WrongShape {
            path: self.path.to_string(),
            tensor: self.tensor.to_string(),
            found: found.to_vec(),
            expected: expected.to_vec(),
        })
    }

    /// A wrong-dtype error.
    fn dtype(&self, found: Dtype, expected: &str) -> DataError {
        DataError::WrongDtype {
            path: self.path.to_string(),
            tensor: self.tensor.to_string(),
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Appends I64 or I32 ids, each checked to be in `0..limit`.
pub(super) fn read_ids(
    at: &Where,
    dtype: Dtype,
    data: &[u8],
    limit: u64,
    out: &mut Vec<i64>,
) -> Result<(), DataError> {
    let decode = match dtype {
        Dtype::I64 => |c: &[u8]| i64::from_le_bytes(le(c)),
        Dtype::I32 => |c: &[u8]| i64::from(i32::from_le_bytes(le(c))),
        other => return Err(at.dtype(other, "I64 or I32")),
    };
    let width = if dtype == Dtype::I64 { 8 } else { 4 };
    for (e, c) in data.chunks_exact(width).enumerate() {
        let id = decode(c);
        if u64::try_from(id).map_or(true, |i| i >= limit) {
            return Err(DataError::ShardIdOutOfRange {
                path: at.path.to_string(),
                tensor: at.tensor.to_string(),
                example: e / at.positions,
                position: e % at.positions,
                id,
                limit,
            });
        }
        out.push(id);
    }
    Ok(())
}

/// Appends F32 rows `dim` wide, each value checked to be finite.
pub(super) fn read_rows(
    at: &Where,
    dtype: Dtype,
    data: &[u8],
    dim: usize,
    out: &mut Vec<f32>,
) -> Result<(), DataError> {
    if dtype != Dtype::F32 {
        return Err(at.dtype(dtype, "F32"));
    }
    for (e, c) in data.chunks_exact(4).enumerate() {
        let v = f32::from_le_bytes(le(c));
        if !v.is_finite() {
            let row = e / dim.max(1);
            return Err(DataError::NotFinite {
                path: at.path.to_string(),
                tensor: at.tensor.to_string(),
                example: row / at.positions,
                position: row % at.positions,
            });
        }
        out.push(v);
    }
    Ok(())
}

/// The first `N` bytes of a chunk (chunks are exactly `N` long).
fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}
