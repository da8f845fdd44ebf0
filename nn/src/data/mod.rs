//! Training data on the host (docs/data.md): where `archc train` gets its batches.
//!
//! A [`Source`] turns draws of the trainer's data generator into [`HostBatch`]es: plain
//! ids and feature rows laid out as the runtime's `Batch` wants them (a layout of
//! segments, each stem's segments concatenated in layout order). [`open`] parses a
//! `--data` argument and opens the source for a model described by a [`DataSpec`]:
//!
//! - `synthetic[:OPTIONS]`: a seeded multi-hop lookup task with paired image segments
//!   (synthetic.rs), no files;
//! - `text:PATH`, `bin:PATH[:u16|u32]`: random windows of a byte-level text file or of a
//!   nanoGPT token file (text.rs);
//! - `shards:PATH`: multimodal examples in safetensors files (shards.rs).

mod error;
mod multihop;
mod shard_check;
mod shards;
mod synthetic;
mod text;

pub use error::DataError;

use crate::rng::Rng;
use std::collections::BTreeMap;

/// What one stem of a model takes as input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StemData {
    /// Text token ids.
    Tokens {
        /// Ids are in `0..vocab`.
        vocab: u64,
        /// The most positions the stem takes.
        max_len: u64,
    },
    /// Discrete image codes (a VQ tokenizer's).
    Codes {
        /// Codes are in `0..codebook`.
        codebook: u64,
        /// Rows (codes) per image.
        rows: u64,
    },
    /// Continuous image feature rows (a vision encoder's).
    Features {
        /// Values per row.
        dim: u64,
        /// Rows per image.
        rows: u64,
    },
}

/// One stem of a model: its name and what it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StemInfo {
    /// The stem's name in the model file.
    pub name: String,
    /// What its input is.
    pub data: StemData,
}

/// What the model wants: its stems in the trunk's order, the batch size, and a cap on a
/// text segment's length (None: the stem's max_len).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSpec {
    /// The model's stems, in the trunk's order.
    pub stems: Vec<StemInfo>,
    /// Sequences per batch.
    pub batch: usize,
    /// The longest text segment to make (capped by each text stem's `max_len`).
    pub text_len: Option<usize>,
}

impl DataSpec {
    /// The length of a text segment for a stem of `max_len`: `text_len`, at most `max_len`.
    pub(crate) fn text_segment(&self, max_len: u64) -> usize {
        let max_len = usize::try_from(max_len).unwrap_or(usize::MAX);
        self.text_len.map_or(max_len, |t| t.min(max_len))
    }

    /// Rows of one sequence in the trunk (every stem's segment) and the input values the
    /// host holds for it (an id per text or code row, `dim` per feature row): what the
    /// memory guard sizes a batch by.
    pub fn per_sequence(&self) -> (u64, u64) {
        self.per_stem().fold((0, 0), |(rows, values), (_, r, v)| {
            (rows.saturating_add(r), values.saturating_add(v))
        })
    }

    /// Per stem, in the trunk's order: its name, rows and input values in one sequence.
    pub fn per_stem(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.stems.iter().map(|s| {
            let (r, v) = match s.data {
                StemData::Tokens { max_len, .. } => {
                    let n = self.text_segment(max_len) as u64;
                    (n, n)
                }
                StemData::Codes { rows, .. } => (rows, rows),
                StemData::Features { dim, rows } => (rows, rows.saturating_mul(dim)),
            };
            (s.name.as_str(), r, v)
        })
    }

    /// The stems whose data is text tokens, in the trunk's order: (name, vocab, max_len).
    pub fn text_stems(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.stems.iter().filter_map(|s| match s.data {
            StemData::Tokens { vocab, max_len } => Some((s.name.as_str(), vocab, max_len)),
            _ => None,
        })
    }
}

/// One batch on the host. Every sequence has `layout` ((stem, length) segments in
/// sequence order). `ids[stem]` holds `batch * n_stem` ids, row-major `[batch, n_stem]`,
/// where `n_stem` is the summed length of that stem's segments in layout order;
/// `features[stem]` holds `batch * n_stem * dim` f32s `[batch, n_stem, dim]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBatch {
    /// Sequences in the batch.
    pub batch: usize,
    /// (stem, length) segments of every sequence, in sequence order.
    pub layout: Vec<(String, usize)>,
    /// Per tokens or codes stem, its ids `[batch, n_stem]`.
    pub ids: BTreeMap<String, Vec<i64>>,
    /// Per features stem, its rows `[batch, n_stem, dim]`.
    pub features: BTreeMap<String, Vec<f32>>,
    /// Per features stem, its row width `dim`.
    pub dims: BTreeMap<String, usize>,
}

impl HostBatch {
    /// Positions in the batch: `batch` times the layout's total length.
    pub fn tokens(&self) -> usize {
        let len: usize = self.layout.iter().map(|(_, n)| n).sum();
        self.batch * len
    }

    /// A stem's positions per sequence: its segments' summed length.
    pub fn stem_len(&self, stem: &str) -> usize {
        self.layout
            .iter()
            .filter(|(s, _)| s == stem)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Where batches come from.
pub trait Source {
    /// The next batch, drawn with `rng` (the trainer's data generator, whose state a
    /// checkpoint stores; so a resumed run draws the same batches).
    fn next_batch(&mut self, rng: &mut Rng) -> Result<HostBatch, DataError>;

    /// One line for the log, e.g. "synthetic multi-hop: 12 entities, 3 hops".
    fn describe(&self) -> String;
}

/// Parses a `--data` argument and opens the source for this model: `synthetic` or
/// `synthetic:entities=12,hops=3,noise=0.1` (defaults 12, 3, 0.1), `text:PATH`,
/// `bin:PATH`, `bin:PATH:u16`, `bin:PATH:u32` (default u16), `shards:PATH` (a
/// `.safetensors` file or a directory of them). Errors name what is wrong and the fix:
/// an unknown kind, a bad option, an unreadable or malformed file, a model that lacks a
/// stem the source needs.
pub fn open(arg: &str, spec: &DataSpec) -> Result<Box<dyn Source>, DataError> {
    if spec.batch == 0 {
        return Err(DataError::ZeroBatch);
    }
    let (kind, rest) = arg.split_once(':').unwrap_or((arg, ""));
    let needs_path = |what: &str| {
        if rest.is_empty() {
            Err(DataError::BadArg {
                arg: arg.to_string(),
                problem: format!("`{kind}:` needs a path, as in `{kind}:{what}`"),
            })
        } else {
            Ok(())
        }
    };
    match kind {
        "synthetic" => Ok(Box::new(synthetic::Synthetic::open(arg, rest, spec)?)),
        "text" => {
            needs_path("data/input.txt")?;
            Ok(Box::new(text::Windows::open(
                rest,
                text::Width::Byte,
                spec,
            )?))
        }
        "bin" => {
            needs_path("data/train.bin")?;
            let (path, width) = bin_width(rest);
            Ok(Box::new(text::Windows::open(path, width, spec)?))
        }
        "shards" => {
            needs_path("data/shards")?;
            Ok(Box::new(shards::Shards::open(rest, spec)?))
        }
        _ => Err(DataError::UnknownKind {
            arg: arg.to_string(),
        }),
    }
}

/// Splits `PATH[:u16|u32]` into the path and the id width (u16 when not given).
fn bin_width(rest: &str) -> (&str, text::Width) {
    match rest.rsplit_once(':') {
        Some((path, "u16")) if !path.is_empty() => (path, text::Width::U16),
        Some((path, "u32")) if !path.is_empty() => (path, text::Width::U32),
        _ => (rest, text::Width::U16),
    }
}

/// The built-in task's name for a text id (docs/data.md): `→`, `?`, `=`, `<end>`, `e7`
/// (entity 7), `k3` (3 hops). `entities` is N, which a text of 3N + 6 tokens has.
pub fn synthetic_token_name(id: i64, entities: usize) -> String {
    use multihop::{ANSWER, ARROW, END, QUERY, SPECIALS};
    let n = entities as i64;
    let first = SPECIALS as i64;
    match id {
        ARROW => "→".into(),
        QUERY => "?".into(),
        ANSWER => "=".into(),
        END => "<end>".into(),
        0 => "<pad>".into(),
        i if (first..first + n).contains(&i) => format!("e{}", i - first),
        i if i >= first + n => format!("k{}", i - first - n + 1),
        i => format!("#{i}"),
    }
}

/// The built-in task's end-of-text id.
pub const SYNTHETIC_END: i64 = multihop::END;
/// The built-in task's `?`, which opens each query.
pub const SYNTHETIC_QUERY: i64 = multihop::QUERY;
/// The built-in task's `=` (the answer follows it in the `equals` form).
pub const SYNTHETIC_ANSWER: i64 = multihop::ANSWER;

/// Positions of the built-in task's text whose next id is a query's answer (either form).
pub fn synthetic_answer_positions(text: &[i64]) -> Vec<usize> {
    multihop::Task::answer_positions(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A text-only spec: one stem `text` of `vocab` ids and `max_len` positions.
    pub(crate) fn text_spec(vocab: u64, max_len: u64, batch: usize) -> DataSpec {
        DataSpec {
            stems: vec![StemInfo {
                name: "text".into(),
                data: StemData::Tokens { vocab, max_len },
            }],
            batch,
            text_len: None,
        }
    }

    /// A unique path in the temp dir for a test's file.
    pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        std::env::temp_dir().join(format!("archc-data-{pid}-{n}-{name}"))
    }

    #[test]
    fn unknown_kinds_and_missing_paths_are_errors() {
        let spec = text_spec(300, 16, 2);
        let err = open("csv:x", &spec).err();
        assert!(
            matches!(err, Some(DataError::UnknownKind { .. })),
            "{err:?}"
        );
        let err = open("text:", &spec).err();
        assert!(matches!(err, Some(DataError::BadArg { .. })), "{err:?}");
        let zero = DataSpec { batch: 0, ..spec };
        assert_eq!(open("synthetic", &zero).err(), Some(DataError::ZeroBatch));
    }

    #[test]
    fn bin_widths_parse() {
        assert_eq!(bin_width("a.bin"), ("a.bin", text::Width::U16));
        assert_eq!(bin_width("a.bin:u32"), ("a.bin", text::Width::U32));
        assert_eq!(bin_width("c:/a.bin:u16"), ("c:/a.bin", text::Width::U16));
        assert_eq!(bin_width("c:/a.bin"), ("c:/a.bin", text::Width::U16));
    }

    #[test]
    fn tokens_counts_every_position() {
        let b = HostBatch {
            batch: 3,
            layout: vec![("image".into(), 4), ("text".into(), 5), ("image".into(), 4)],
            ids: BTreeMap::new(),
            features: BTreeMap::new(),
            dims: BTreeMap::new(),
        };
        assert_eq!(b.tokens(), 39);
        assert_eq!(b.stem_len("image"), 8);
    }
}
