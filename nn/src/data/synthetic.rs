//! `--data synthetic[:entities=12,hops=3,noise=0.1]`: the built-in multi-hop lookup task
//! (docs/data.md), seeded by the trainer's data generator and needing no files.
//!
//! Every sequence draws a random function f over N entities and a query (x, k); its
//! image segments (one per non-text stem, in the spec's order) show f row by row, and
//! its text spells the facts `a → f(a)`, the query `? x k` and the answer `= f^k(x)`.
//! The layout is the image segments, then a copy of the query for each text stem after
//! the first, then the first text stem's task.

use super::multihop::{Form, Table, Task, Vocab};
use super::{DataError, DataSpec, HostBatch, Source, StemData};
use crate::rng::Rng;
use std::collections::BTreeMap;

/// Entities when `entities=` is not given.
const ENTITIES: usize = 12;
/// Most hops when `hops=` is not given: one lookup, which a 2-block model can learn (each
/// further hop needs a further block of attention).
const HOPS: usize = 1;
/// Queries per sequence when `queries=` is not given: as many as the text holds after the
/// facts, at most this many.
const AUTO_QUERIES: usize = 18;
/// The most queries an option may ask for.
const MAX_QUERIES: usize = 1 << 16;
/// Feature noise (per-component standard deviation) when `noise=` is not given.
const NOISE: f32 = 0.1;
/// The most entities an option may ask for.
const MAX_ENTITIES: usize = 1 << 20;
/// The most hops an option may ask for.
const MAX_HOPS: usize = 1 << 10;

/// The `synthetic:` options.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Options {
    entities: usize,
    hops: usize,
    /// None: as many as fit, at most [`AUTO_QUERIES`].
    queries: Option<usize>,
    /// The facts in a random order (else in entity order).
    shuffled: bool,
    form: Form,
    noise: f32,
}

impl Options {
    /// Parses `entities=12,hops=1,queries=18,order=sorted,form=direct,noise=0.1` (any
    /// subset, any order; empty: defaults).
    fn parse(arg: &str, opts: &str) -> Result<Options, DataError> {
        let mut o = Options {
            entities: ENTITIES,
            hops: HOPS,
            queries: None,
            shuffled: false,
            form: Form::Direct,
            noise: NOISE,
        };
        let bad = |problem: String| DataError::BadArg {
            arg: arg.to_string(),
            problem,
        };
        for item in opts.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("`{item}` is not `option=value`")))?;
            let whole = |lo: usize, hi: usize| {
                value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|v| (lo..=hi).contains(v))
                    .ok_or_else(|| bad(format!("`{key}` takes a whole number {lo}..={hi}")))
            };
            match key.trim() {
                "entities" => o.entities = whole(2, MAX_ENTITIES)?,
                "hops" => o.hops = whole(1, MAX_HOPS)?,
                "queries" => o.queries = Some(whole(1, MAX_QUERIES)?),
                "order" => {
                    o.shuffled = match value.trim() {
                        "sorted" => false,
                        "shuffled" => true,
                        _ => return Err(bad("`order` is `sorted` or `shuffled`".into())),
                    }
                }
                "form" => {
                    o.form = match value.trim() {
                        "direct" => Form::Direct,
                        "equals" => Form::Equals,
                        _ => return Err(bad("`form` is `direct` (`? k x y`) or `equals` (`? x k = y`)".into())),
                    }
                }
                "noise" => {
                    o.noise = value
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| bad("`noise` takes a number >= 0".into()))?
                }
                other => {
                    return Err(bad(format!(
                    "unknown option `{other}`; the options are entities, hops, queries, order, form and noise"
                )))
                }
            }
        }
        Ok(o)
    }
}

/// What an image stem shows.
#[derive(Clone, Debug, PartialEq)]
enum Shows {
    Codes { codebook: u64 },
    Features { table: Table },
}

/// An image segment: one per non-text stem.
#[derive(Clone, Debug, PartialEq)]
struct Image {
    stem: String,
    rows: usize,
    shows: Shows,
}

/// The synthetic task, sized for one model.
#[derive(Debug)]
pub(super) struct Synthetic {
    vocab: Vocab,
    queries: usize,
    shuffled: bool,
    form: Form,
    noise: f32,
    batch: usize,
    images: Vec<Image>,
    /// Text stems after the first, and their segments: each gets a copy of the queries.
    echoes: Vec<(String, usize)>,
    /// The first text stem and its segment's length, 3N + Q·len + 1.
    text: Option<(String, usize)>,
    layout: Vec<(String, usize)>,
}

impl Synthetic {
    /// Sizes the task for `spec`: N = min(entities, every image stem's rows, the facts
    /// the first text segment holds).
    pub(super) fn open(arg: &str, opts: &str, spec: &DataSpec) -> Result<Self, DataError> {
        let o = Options::parse(arg, opts)?;
        if spec.stems.is_empty() {
            return Err(DataError::MissingStem {
                source: "--data synthetic".into(),
                needed: "at least one stem".into(),
            });
        }
        let mut n = o.entities.min(fewest_rows(spec)?);
        let qlen = o.form.len();
        let mut queries = o.queries.unwrap_or(1);
        let text = match spec.text_stems().next() {
            Some((stem, _, max_len)) => {
                let len = spec.text_segment(max_len);
                let why = format!(
                    "2 facts `a → f(a)`, {} and the end",
                    match (o.queries, o.form) {
                        (Some(q), Form::Direct) if q > 1 => format!("{q} queries `? k x y`"),
                        (Some(q), Form::Equals) if q > 1 => format!("{q} queries `? x k = y`"),
                        (_, Form::Direct) => "a query `? k x y`".to_string(),
                        (_, Form::Equals) => "the query `? x k = y`".to_string(),
                    }
                );
                need(stem, len, 3 * 2 + qlen * queries + 1, &why)?;
                n = n.min((len - qlen * queries - 1) / 3);
                if o.queries.is_none() {
                    // As many queries as the text holds after the facts.
                    queries = ((len - 3 * n - 1) / qlen).clamp(1, AUTO_QUERIES);
                }
                Some((stem.to_string(), 3 * n + qlen * queries + 1))
            }
            None => None,
        };
        let echoes = echoes(spec, queries)?;
        let vocab = Vocab {
            entities: n,
            hops: o.hops,
        };
        check_vocabs(spec, vocab)?;
        let layout = layout(spec, &echoes, &text)?;
        check_size(spec, &layout)?;
        let images = images(spec, n)?;
        Ok(Synthetic {
            vocab,
            queries,
            shuffled: o.shuffled,
            form: o.form,
            noise: o.noise,
            batch: spec.batch,
            images,
            echoes,
            text,
            layout,
        })
    }
}

/// The fewest rows of any image stem (usize::MAX if none): the most entities the images
/// can show, one row each. An error if a stem has fewer than 2.
fn fewest_rows(spec: &DataSpec) -> Result<usize, DataError> {
    let mut fewest = usize::MAX;
    for s in &spec.stems {
        if let StemData::Codes { rows, .. } | StemData::Features { rows, .. } = s.data {
            let rows = to_usize(rows, &s.name, "rows")?;
            let why = "one row per entity, and at least 2 entities";
            need(&s.name, rows, 2, why)?;
            fewest = fewest.min(rows);
        }
    }
    Ok(fewest)
}

/// The text stems after the first, which get a copy of the queries (3 ids each).
fn echoes(spec: &DataSpec, queries: usize) -> Result<Vec<(String, usize)>, DataError> {
    let mut echoes = Vec::new();
    for (stem, _, max_len) in spec.text_stems().skip(1) {
        let why = "a copy of the queries, 3 ids each";
        need(stem, spec.text_segment(max_len), 3 * queries, why)?;
        echoes.push((stem.to_string(), 3 * queries));
    }
    Ok(echoes)
}

/// The layout: image segments in the spec's order, the query copies, the task's text.
fn layout(
    spec: &DataSpec,
    echoes: &[(String, usize)],
    text: &Option<(String, usize)>,
) -> Result<Vec<(String, usize)>, DataError> {
    let mut layout = Vec::new();
    for s in &spec.stems {
        if let StemData::Codes { rows, .. } | StemData::Features { rows, .. } = s.data {
            layout.push((s.name.clone(), to_usize(rows, &s.name, "rows")?));
        }
    }
    layout.extend(echoes.iter().cloned());
    layout.extend(text.iter().cloned());
    Ok(layout)
}

/// The image segments of `spec`'s non-text stems, in its order, for `n` entities.
fn images(spec: &DataSpec, n: usize) -> Result<Vec<Image>, DataError> {
    let mut images = Vec::new();
    for s in &spec.stems {
        let (rows, shows) = match s.data {
            StemData::Tokens { .. } => continue,
            StemData::Codes { codebook, rows } => (rows, Shows::Codes { codebook }),
            StemData::Features { dim, rows } => {
                let table = Table::new(n, to_usize(dim, &s.name, "dim")?);
                (rows, Shows::Features { table })
            }
        };
        let rows = to_usize(rows, &s.name, "rows")?;
        images.push(Image {
            stem: s.name.clone(),
            rows,
            shows,
        });
    }
    Ok(images)
}

/// A stem size as a `usize`.
fn to_usize(v: u64, stem: &str, what: &str) -> Result<usize, DataError> {
    usize::try_from(v).map_err(|_| DataError::Oversized {
        source: "--data synthetic".into(),
        what: format!("{v} {what} for stem `{stem}`"),
    })
}

/// An error unless `stem` gets at least `needed` positions.
fn need(stem: &str, len: usize, needed: usize, why: &str) -> Result<(), DataError> {
    if len >= needed {
        return Ok(());
    }
    Err(DataError::StemTooSmall {
        source: "--data synthetic".into(),
        stem: stem.to_string(),
        len,
        needed,
        why: why.to_string(),
    })
}

/// An error unless every text stem's vocab holds the task's ids.
fn check_vocabs(spec: &DataSpec, v: Vocab) -> Result<(), DataError> {
    for (stem, vocab, _) in spec.text_stems() {
        if vocab < v.size() {
            return Err(DataError::VocabTooSmall {
                source: "--data synthetic".into(),
                stem: stem.to_string(),
                vocab,
                needed: v.size(),
                why: format!(
                    "5 specials, {} entities and {} hop counts",
                    v.entities, v.hops
                ),
                fix: "raise the stem's vocab, or lower entities= or hops=".into(),
            });
        }
    }
    Ok(())
}

/// An error if a batch's ids or feature values overflow a `usize`.
fn check_size(spec: &DataSpec, layout: &[(String, usize)]) -> Result<(), DataError> {
    let total = layout
        .iter()
        .try_fold(0usize, |a, (_, n)| a.checked_add(*n));
    let values = spec.stems.iter().try_fold(0usize, |a, s| match s.data {
        StemData::Features { dim, rows } => {
            let (dim, rows) = (usize::try_from(dim).ok()?, usize::try_from(rows).ok()?);
            a.checked_add(rows.checked_mul(dim)?)
        }
        _ => Some(a),
    });
    let batch = spec.batch;
    match (
        total.and_then(|t| t.checked_mul(batch)),
        values.and_then(|v| v.checked_mul(batch)),
    ) {
        (Some(_), Some(_)) => Ok(()),
        _ => Err(DataError::Oversized {
            source: "--data synthetic".into(),
            what: format!("{batch} sequences of the layout {layout:?}"),
        }),
    }
}

impl Source for Synthetic {
    fn next_batch(&mut self, rng: &mut Rng) -> Result<HostBatch, DataError> {
        let n = self.vocab.entities;
        let mut ids: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut features: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        for _ in 0..self.batch {
            let task = Task::draw(rng, n, self.vocab.hops, self.queries, self.shuffled);
            for image in &self.images {
                match &image.shows {
                    Shows::Codes { codebook } => {
                        let out = ids.entry(image.stem.clone()).or_default();
                        task.codes(image.rows, *codebook, out);
                    }
                    Shows::Features { table } => {
                        let out = features.entry(image.stem.clone()).or_default();
                        task.features(image.rows, table, self.noise, rng, out);
                    }
                }
            }
            for (stem, _) in &self.echoes {
                task.query(self.vocab, self.form, ids.entry(stem.clone()).or_default());
            }
            if let Some((stem, _)) = &self.text {
                task.text(self.vocab, self.form, ids.entry(stem.clone()).or_default());
            }
        }
        let dims = self.images.iter().filter_map(|i| match &i.shows {
            Shows::Features { table } => Some((i.stem.clone(), table.dim)),
            Shows::Codes { .. } => None,
        });
        Ok(HostBatch {
            batch: self.batch,
            layout: self.layout.clone(),
            ids,
            features,
            dims: dims.collect(),
        })
    }

    fn describe(&self) -> String {
        let layout: Vec<String> = self
            .layout
            .iter()
            .map(|(s, n)| format!("{s}:{n}"))
            .collect();
        format!(
            "synthetic lookup: {} entities ({} facts), {} {} `{}` of up to {} {}, noise {}; layout {}",
            self.vocab.entities,
            if self.shuffled { "shuffled" } else { "sorted" },
            self.queries,
            if self.queries == 1 { "query" } else { "queries" },
            match self.form {
                Form::Direct => "? k x y",
                Form::Equals => "? x k = y",
            },
            self.vocab.hops,
            if self.vocab.hops == 1 { "hop" } else { "hops" },
            self.noise,
            layout.join(",")
        )
    }
}

#[cfg(test)]
#[path = "synthetic_tests.rs"]
mod tests;
