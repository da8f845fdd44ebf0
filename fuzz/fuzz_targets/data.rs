//! Fuzz target: any byte string as a data file the trainer reads (`--data shards:`,
//! `bin:...:u16`, `bin:...:u32`, `text:`), through the runtime's own readers
//! (nn/src/data, compiled here by path: they need no burn).
//!
//! The first byte picks the reader and the batch size; the rest is the file. Invariants:
//! - opening and drawing batches never panics: a bad file is a `DataError`;
//! - every batch it gives has the promised shape: `batch` sequences, each stem's ids
//!   `batch x rows` and below the stem's vocabulary or codebook, each features stem's
//!   values `batch x rows x dim`.
#![no_main]

#[allow(dead_code)]
#[path = "../../nn/src/rng.rs"]
mod rng;

#[allow(dead_code)]
#[path = "../../nn/src/data/mod.rs"]
mod data;

use data::{DataSpec, StemData, StemInfo};
use libfuzzer_sys::fuzz_target;

/// Features `image` (dim 4, 3 rows), codes `vq` (codebook 10, 3 rows), text `text`
/// (vocab 50, max_len 16): the stems of nn/src/data/shards_tests.rs.
fn multimodal(batch: usize) -> DataSpec {
    let stem = |name: &str, data| StemInfo {
        name: name.into(),
        data,
    };
    DataSpec {
        stems: vec![
            stem("image", StemData::Features { dim: 4, rows: 3 }),
            stem("vq", StemData::Codes { codebook: 10, rows: 3 }),
            stem("text", StemData::Tokens { vocab: 50, max_len: 16 }),
        ],
        batch,
        text_len: None,
    }
}

/// One text stem (vocab 300, so u16 and u32 ids can be out of range), windows of 8.
fn text_only(batch: usize) -> DataSpec {
    DataSpec {
        stems: vec![StemInfo {
            name: "text".into(),
            data: StemData::Tokens { vocab: 300, max_len: 8 },
        }],
        batch,
        text_len: None,
    }
}

fn path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("archc-fuzz-data-{}", std::process::id()))
}

fuzz_target!(|input: &[u8]| {
    let Some((&pick, file)) = input.split_first() else {
        return;
    };
    let batch = 1 + (pick >> 2) as usize % 4;
    let p = path();
    if std::fs::write(&p, file).is_err() {
        return;
    }
    let p = p.to_string_lossy();
    let (arg, spec) = match pick & 3 {
        0 => (format!("shards:{p}"), multimodal(batch)),
        1 => (format!("bin:{p}:u16"), text_only(batch)),
        2 => (format!("bin:{p}:u32"), text_only(batch)),
        _ => (format!("text:{p}"), text_only(batch)),
    };
    let Ok(mut source) = data::open(&arg, &spec) else {
        return;
    };
    let _ = source.describe();
    let mut rng = rng::Rng::new(u64::from(pick));
    for _ in 0..3 {
        let Ok(b) = source.next_batch(&mut rng) else {
            return;
        };
        assert_eq!(b.batch, batch, "a batch of the wrong size");
        for s in &spec.stems {
            let rows = b.stem_len(&s.name);
            match s.data {
                StemData::Tokens { vocab: limit, .. } | StemData::Codes { codebook: limit, .. } => {
                    let ids = &b.ids[&s.name];
                    assert_eq!(ids.len(), batch * rows, "stem `{}`: ids of the wrong length", s.name);
                    assert!(
                        ids.iter().all(|&i| i >= 0 && (i as u64) < limit),
                        "stem `{}`: an id outside 0..{limit}: {ids:?}",
                        s.name
                    );
                }
                StemData::Features { dim, .. } => {
                    let v = &b.features[&s.name];
                    assert_eq!(v.len(), batch * rows * dim as usize, "stem `{}`: features of the wrong length", s.name);
                }
            }
        }
    }
});
