//! Tests of the synthetic task (synthetic.rs, multihop.rs).

use super::super::multihop::{code, Table, ANSWER, ARROW, END, QUERY, SPECIALS};
use super::super::tests::text_spec;
use super::super::{open, DataError, DataSpec, HostBatch, StemData, StemInfo};
use crate::rng::Rng;
use std::collections::BTreeMap;

/// A spec of features `image` (dim 16, 20 rows), codes `vq` (codebook 200, 8 rows) and
/// text `text` (vocab 64, max_len 128), in that order.
fn multimodal_spec(batch: usize) -> DataSpec {
    let stem = |name: &str, data| StemInfo {
        name: name.into(),
        data,
    };
    DataSpec {
        stems: vec![
            stem("image", StemData::Features { dim: 16, rows: 20 }),
            stem(
                "vq",
                StemData::Codes {
                    codebook: 200,
                    rows: 8,
                },
            ),
            stem(
                "text",
                StemData::Tokens {
                    vocab: 64,
                    max_len: 128,
                },
            ),
        ],
        batch,
        text_len: None,
    }
}

/// The task's first form: shuffled facts, one query `? x k = y`, up to 3 hops.
const FIRST: &str = "synthetic:order=shuffled,form=equals,queries=1,hops=3";

fn batch(arg: &str, spec: &DataSpec, seed: u64) -> HostBatch {
    let mut src = open(arg, spec).expect("open");
    src.next_batch(&mut Rng::new(seed)).expect("batch")
}

/// A parsed task text: the facts as f, the query (x, k), the answer; entities as 0..N.
struct Parsed {
    f: BTreeMap<i64, i64>,
    x: i64,
    k: i64,
    answer: i64,
}

/// Parses one sequence's text of N entities (entity i is id 5 + i, hop k is 5 + N + k - 1).
fn parse(text: &[i64], n: usize) -> Parsed {
    let e = |id: i64| id - SPECIALS as i64;
    let mut f = BTreeMap::new();
    for fact in text[..3 * n].chunks(3) {
        assert_eq!(fact[1], ARROW, "{text:?}");
        f.insert(e(fact[0]), e(fact[2]));
    }
    let rest = &text[3 * n..];
    assert_eq!(
        (rest[0], rest[3], rest[5]),
        (QUERY, ANSWER, END),
        "{text:?}"
    );
    let k = rest[2] - SPECIALS as i64 - n as i64 + 1;
    Parsed {
        f,
        x: e(rest[1]),
        k,
        answer: e(rest[4]),
    }
}

#[test]
fn the_same_state_draws_the_same_batch() {
    let spec = multimodal_spec(3);
    let a = batch("synthetic", &spec, 5);
    assert_eq!(a, batch("synthetic", &spec, 5));
    assert_ne!(a, batch("synthetic", &spec, 6));
    let mut src = open("synthetic", &spec).expect("open");
    let mut rng = Rng::new(5);
    let first = src.next_batch(&mut rng).expect("batch");
    assert_ne!(first, src.next_batch(&mut rng).expect("batch"));
}

#[test]
fn text_only_shapes_and_ranges() {
    let b = batch(FIRST, &text_spec(64, 128, 4), 1);
    assert_eq!(b.layout, vec![("text".to_string(), 42)]);
    assert_eq!(b.ids["text"].len(), 4 * 42);
    assert!(b.ids["text"].iter().all(|&i| (0..64).contains(&i)));
    assert!(b.features.is_empty() && b.dims.is_empty());
    assert_eq!(b.tokens(), 168);
}

#[test]
fn multimodal_shapes_and_ranges() {
    let b = batch(FIRST, &multimodal_spec(2), 1);
    // N = min(12, 20, 8) = 8 entities, text 3 * 8 + 6 = 30.
    let layout = [("image", 20), ("vq", 8), ("text", 30)].map(|(s, n)| (s.to_string(), n));
    assert_eq!(b.layout, layout);
    assert_eq!(b.features["image"].len(), 2 * 20 * 16);
    assert_eq!(b.dims["image"], 16);
    assert_eq!(b.ids["vq"].len(), 2 * 8);
    assert!(b.ids["vq"].iter().all(|&c| (0..200).contains(&c)));
    assert!(b.ids["text"].iter().all(|&i| (0..64).contains(&i)));
    assert!(b.features["image"].iter().all(|v| v.is_finite()));
}

#[test]
fn the_answer_follows_the_facts() {
    let spec = DataSpec {
        batch: 16,
        ..text_spec(64, 128, 16)
    };
    let b = batch(&format!("{FIRST},entities=9,hops=4"), &spec, 2);
    let mut ks = Vec::new();
    for text in b.ids["text"].chunks(3 * 9 + 6) {
        let p = parse(text, 9);
        assert_eq!(p.f.len(), 9, "every entity has one fact");
        let y = (0..p.k).fold(p.x, |e, _| p.f[&e]);
        assert_eq!(p.answer, y);
        ks.push(p.k);
    }
    assert!(ks.iter().all(|k| (1..=4).contains(k)));
    assert!(ks.iter().any(|&k| k > 1));
}

#[test]
fn images_show_the_texts_function() {
    let b = batch(&format!("{FIRST},noise=0.05"), &multimodal_spec(4), 9);
    let (n, dim) = (8, 16);
    let table = Table::new(n, dim);
    for s in 0..4 {
        let p = parse(&b.ids["text"][s * 30..(s + 1) * 30], n);
        let codes = &b.ids["vq"][s * 8..(s + 1) * 8];
        let rows = &b.features["image"][s * 20 * dim..(s + 1) * 20 * dim];
        for r in 0..20 {
            let i = r % n;
            let fi = p.f[&(i as i64)] as usize;
            if r < 8 {
                // The codebook holds 8^2 = 64 codes, so the code is i * 8 + f(i).
                assert_eq!(codes[r], code(i, fi, n, 200));
                assert_eq!(codes[r], (i * n + fi) as i64);
            }
            // The nearest Q to row - P[i] is f(i)'s.
            let row = &rows[r * dim..(r + 1) * dim];
            let dot = |j: usize| -> f32 {
                (0..dim)
                    .map(|c| (row[c] - table.p[i * dim + c]) * table.q[j * dim + c])
                    .sum()
            };
            let best = (0..n).max_by(|&a, &b| dot(a).total_cmp(&dot(b)));
            assert_eq!(best, Some(fi));
        }
    }
}

#[test]
fn a_small_codebook_shows_f_mod_codebook() {
    let mut spec = multimodal_spec(2);
    spec.stems[1].data = StemData::Codes {
        codebook: 5,
        rows: 8,
    };
    let b = batch(FIRST, &spec, 4);
    for s in 0..2 {
        let p = parse(&b.ids["text"][s * 30..(s + 1) * 30], 8);
        for (i, &c) in b.ids["vq"][s * 8..(s + 1) * 8].iter().enumerate() {
            assert_eq!(c, p.f[&(i as i64)] % 5);
        }
    }
}

#[test]
fn images_only_and_extra_text_stems() {
    let mut spec = multimodal_spec(2);
    spec.stems.pop();
    let b = batch("synthetic", &spec, 1);
    assert_eq!(b.layout.len(), 2);
    assert!(!b.ids.contains_key("text"));
    let mut spec = multimodal_spec(2);
    spec.stems.push(StemInfo {
        name: "caption".into(),
        data: StemData::Tokens {
            vocab: 64,
            max_len: 8,
        },
    });
    let b = batch(FIRST, &spec, 1);
    let names: Vec<&str> = b.layout.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["image", "vq", "caption", "text"]);
    for s in 0..2 {
        let query = &b.ids["text"][s * 30 + 24..s * 30 + 27];
        assert_eq!(&b.ids["caption"][s * 3..s * 3 + 3], query);
    }
}

#[test]
fn a_short_text_lowers_the_entities() {
    let spec = DataSpec {
        text_len: Some(20),
        ..text_spec(64, 128, 1)
    };
    let b = batch(FIRST, &spec, 1);
    assert_eq!(b.layout, vec![("text".to_string(), 18)]);
    parse(&b.ids["text"], 4);
}

#[test]
fn too_small_stems_are_clear_errors() {
    let err = open(FIRST, &text_spec(19, 128, 1)).err().expect("an error");
    assert!(matches!(
        err,
        DataError::VocabTooSmall {
            needed: 20,
            vocab: 19,
            ..
        }
    ));
    assert!(err.to_string().contains("at least 20"), "{err}");
    let err = open(FIRST, &text_spec(64, 11, 1)).err();
    assert!(matches!(
        err,
        Some(DataError::StemTooSmall {
            needed: 12,
            len: 11,
            ..
        })
    ));
    let mut spec = multimodal_spec(1);
    spec.stems[1].data = StemData::Codes {
        codebook: 9,
        rows: 1,
    };
    let err = open("synthetic", &spec).err();
    assert!(matches!(
        err,
        Some(DataError::StemTooSmall {
            needed: 2,
            len: 1,
            ..
        })
    ));
}

#[test]
fn bad_options_are_errors() {
    let spec = text_spec(64, 128, 1);
    for arg in [
        "synthetic:entities=1",
        "synthetic:hops=0",
        "synthetic:depth=3",
        "synthetic:noise=-1",
        "synthetic:entities",
        "synthetic:order=random",
        "synthetic:form=x",
        "synthetic:queries=0",
    ] {
        let err = open(arg, &spec).err();
        assert!(
            matches!(err, Some(DataError::BadArg { .. })),
            "{arg}: {err:?}"
        );
    }
    let src = open("synthetic: entities=5 , hops=2", &spec).expect("open");
    assert!(
        src.describe().contains("5 entities") && src.describe().contains("up to 2 hops"),
        "{}",
        src.describe()
    );
}

/// The default task: the facts in entity order, then as many queries `? k x y` as the text
/// holds after them (at most 18), then the end; each answer is f^k(x).
#[test]
fn the_default_text_asks_many_lookups_of_sorted_facts() {
    let b = batch("synthetic", &text_spec(64, 128, 3), 7);
    // N = 12: 36 ids of facts, 18 queries of 4 ids, the end: 109 ids.
    assert_eq!(b.layout, vec![("text".to_string(), 109)]);
    let v = |i: i64| i - SPECIALS as i64;
    for text in b.ids["text"].chunks(109) {
        let mut f = BTreeMap::new();
        for (i, fact) in text[..36].chunks(3).enumerate() {
            assert_eq!((v(fact[0]), fact[1]), (i as i64, ARROW), "sorted: {text:?}");
            f.insert(v(fact[0]), v(fact[2]));
        }
        for q in text[36..108].chunks(4) {
            assert_eq!(q[0], QUERY);
            let k = q[1] - SPECIALS as i64 - 12 + 1;
            assert_eq!(k, 1, "one hop by default");
            assert_eq!(v(q[3]), f[&v(q[2])], "{q:?}");
        }
        assert_eq!(text[108], END);
        // Where the answers are predicted: at each `x`.
        let at = super::super::synthetic_answer_positions(text);
        assert_eq!(at, (0..18).map(|j| 36 + 4 * j + 2).collect::<Vec<_>>());
    }
    // A shorter text holds fewer queries: 64 ids hold 12 facts and 6 queries.
    let b = batch("synthetic", &text_spec(64, 64, 1), 7);
    assert_eq!(b.layout, vec![("text".to_string(), 61)]);
}
