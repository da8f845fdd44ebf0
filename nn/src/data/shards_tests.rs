//! Tests of `shards:` (shards.rs), on small files in the temp dir.

use super::super::tests::temp_path;
use super::super::{open, DataError, DataSpec, StemData, StemInfo};
use crate::rng::Rng;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::collections::HashMap;

/// One tensor to write: name, dtype, shape, little-endian bytes.
type Tensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Features `image` (dim 4, 3 rows), codes `vq` (codebook 10, 3 rows), text `text`
/// (vocab 50, max_len 16).
fn spec(batch: usize) -> DataSpec {
    let stem = |name: &str, data| StemInfo {
        name: name.into(),
        data,
    };
    DataSpec {
        stems: vec![
            stem("image", StemData::Features { dim: 4, rows: 3 }),
            stem(
                "vq",
                StemData::Codes {
                    codebook: 10,
                    rows: 3,
                },
            ),
            stem(
                "text",
                StemData::Tokens {
                    vocab: 50,
                    max_len: 16,
                },
            ),
        ],
        batch,
        text_len: None,
    }
}

const LAYOUT: &str = "image:3,text:5,vq:3,text:2";

/// `n` good examples for `spec()` and LAYOUT: example e has text ids `7e + p`, codes
/// `e`, features `e`, so a batch row's stems can be matched up.
fn good(n: usize) -> Vec<Tensor> {
    let text: Vec<u8> = (0..n * 7).flat_map(|i| (i as i64).to_le_bytes()).collect();
    let vq: Vec<u8> = (0..n * 3)
        .flat_map(|i| ((i / 3) as i32).to_le_bytes())
        .collect();
    let image: Vec<u8> = (0..n * 12)
        .flat_map(|i| ((i / 12) as f32).to_le_bytes())
        .collect();
    vec![
        ("text.ids".into(), Dtype::I64, vec![n, 7], text),
        ("vq.ids".into(), Dtype::I32, vec![n, 3], vq),
        ("image.features".into(), Dtype::F32, vec![n, 3, 4], image),
    ]
}

/// The bytes of a shard of `tensors` with `layout` (none: no metadata).
fn shard_bytes(layout: Option<&str>, tensors: &[Tensor]) -> Vec<u8> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            let view = TensorView::new(*dtype, shape.clone(), data).expect("a view");
            (name.clone(), view)
        })
        .collect();
    let meta = layout.map(|l| HashMap::from([("layout".to_string(), l.to_string())]));
    safetensors::serialize(views, meta).expect("serialize")
}

/// Writes a shard; returns its path.
fn write(name: &str, layout: Option<&str>, tensors: &[Tensor]) -> String {
    let path = temp_path(name);
    std::fs::write(&path, shard_bytes(layout, tensors)).expect("write");
    path.to_string_lossy().into_owned()
}

/// The error opening a shard of `tensors` with LAYOUT.
fn error_of(tensors: &[Tensor]) -> DataError {
    let path = write("bad.safetensors", Some(LAYOUT), tensors);
    open(&format!("shards:{path}"), &spec(2))
        .err()
        .expect("an error")
}

#[test]
fn a_good_shard_gives_matching_rows() {
    let path = write("good.safetensors", Some(LAYOUT), &good(4));
    let mut src = open(&format!("shards:{path}"), &spec(5)).expect("open");
    assert!(src.describe().contains("4 examples"), "{}", src.describe());
    let b = src.next_batch(&mut Rng::new(3)).expect("batch");
    assert_eq!(b.layout.len(), 4);
    assert_eq!(b.tokens(), 5 * 13);
    assert_eq!((b.ids["text"].len(), b.ids["vq"].len()), (35, 15));
    assert_eq!((b.features["image"].len(), b.dims["image"]), (60, 4));
    for s in 0..5 {
        let e = b.ids["vq"][s * 3];
        assert_eq!(
            b.ids["text"][s * 7..s * 7 + 7],
            (7 * e..7 * e + 7).collect::<Vec<_>>()[..]
        );
        assert!(b.features["image"][s * 12..s * 12 + 12]
            .iter()
            .all(|&v| v == e as f32));
    }
    assert_eq!(b, src.next_batch(&mut Rng::new(3)).expect("batch"));
}

#[test]
fn a_directory_reads_every_shard() {
    let dir = temp_path("dir");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("a.safetensors"),
        shard_bytes(Some(LAYOUT), &good(2)),
    )
    .expect("w");
    std::fs::write(
        dir.join("b.safetensors"),
        shard_bytes(Some(LAYOUT), &good(3)),
    )
    .expect("w");
    std::fs::write(dir.join("notes.txt"), b"not a shard").expect("w");
    let arg = format!("shards:{}", dir.display());
    let src = open(&arg, &spec(2)).expect("open");
    assert!(
        src.describe().contains("2 file(s), 5 examples"),
        "{}",
        src.describe()
    );
    let other = "text:5,text:2,image:3,vq:3";
    std::fs::write(
        dir.join("c.safetensors"),
        shard_bytes(Some(other), &good(1)),
    )
    .expect("w");
    let err = open(&arg, &spec(2)).err();
    assert!(
        matches!(err, Some(DataError::LayoutMismatch { .. })),
        "{err:?}"
    );
    let empty = temp_path("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = open(&format!("shards:{}", empty.display()), &spec(2)).err();
    assert!(matches!(err, Some(DataError::NoShards { .. })), "{err:?}");
}

#[test]
fn truncated_and_missing_files_are_errors() {
    let mut bytes = shard_bytes(Some(LAYOUT), &good(2));
    bytes.truncate(bytes.len() - 10);
    let path = temp_path("short.safetensors");
    std::fs::write(&path, &bytes).expect("write");
    let err = open(&format!("shards:{}", path.display()), &spec(2)).err();
    assert!(matches!(err, Some(DataError::BadShard { .. })), "{err:?}");
    let path = temp_path("tiny.safetensors");
    std::fs::write(&path, [1, 2, 3]).expect("write");
    let err = open(&format!("shards:{}", path.display()), &spec(2)).err();
    assert!(matches!(err, Some(DataError::BadShard { .. })), "{err:?}");
    let err = open("shards:/nonexistent/archc/x.safetensors", &spec(2)).err();
    assert!(matches!(err, Some(DataError::Io { .. })), "{err:?}");
}

#[test]
fn wrong_dtypes_shapes_and_names_are_errors() {
    let mut t = good(2);
    t[0].1 = Dtype::F64;
    let err = error_of(&t);
    assert!(
        matches!(&err, DataError::WrongDtype { tensor, .. } if tensor == "text.ids"),
        "{err:?}"
    );
    let mut t = good(2);
    t[2] = (
        "image.features".into(),
        Dtype::F32,
        vec![2, 3, 2],
        t[2].3[..48].to_vec(),
    );
    match error_of(&t) {
        DataError::WrongShape {
            tensor,
            found,
            expected,
            ..
        } => {
            assert_eq!(tensor, "image.features");
            assert_eq!((found, expected), (vec![2, 3, 2], vec![2, 3, 4]));
        }
        other => panic!("expected a wrong shape, got {other:?}"),
    }
    let mut t = good(2);
    t.remove(1);
    assert!(matches!(error_of(&t), DataError::MissingTensor { tensor, .. } if tensor == "vq.ids"));
    let mut t = good(2);
    t[1].0 = "vq.features".into();
    assert!(
        matches!(error_of(&t), DataError::UnexpectedTensor { tensor, .. } if tensor == "vq.features")
    );
}

#[test]
fn out_of_range_ids_and_bad_values_are_errors() {
    let mut t = good(2);
    t[0].3[8 * 9..8 * 10].copy_from_slice(&50i64.to_le_bytes());
    let err = error_of(&t);
    let found = matches!(
        err,
        DataError::ShardIdOutOfRange {
            example: 1,
            position: 2,
            id: 50,
            limit: 50,
            ..
        }
    );
    assert!(found, "{err:?}");
    let mut t = good(2);
    t[1].3[..4].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(matches!(
        error_of(&t),
        DataError::ShardIdOutOfRange {
            id: -1,
            limit: 10,
            ..
        }
    ));
    let mut t = good(2);
    t[2].3[4 * 17..4 * 18].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = error_of(&t);
    assert!(
        matches!(
            err,
            DataError::NotFinite {
                example: 1,
                position: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn layouts_are_checked_against_the_model() {
    let path = write("nolayout.safetensors", None, &good(1));
    let err = open(&format!("shards:{path}"), &spec(1)).err();
    assert!(
        matches!(err, Some(DataError::MissingLayout { .. })),
        "{err:?}"
    );
    for (layout, says) in [
        ("image:3,text:7", "no segment of the model's stem `vq`"),
        ("image:4,text:7,vq:3", "segment of 4 rows"),
        ("image:3,txt:7,vq:3", "names stem `txt`"),
        ("image:3,text:17,vq:3", "max_len 16"),
        ("image:3,text,vq:3", "not `stem:length`"),
        ("image:3,text:0,text:7,vq:3", "not `stem:length`"),
    ] {
        let path = write("layout.safetensors", Some(layout), &good(1));
        let err = open(&format!("shards:{path}"), &spec(1))
            .err()
            .expect("an error");
        assert!(err.to_string().contains(says), "{layout}: {err}");
    }
}
