//! Tests of `text:` and `bin:` (text.rs), on small files in the temp dir.

use super::super::tests::{temp_path, text_spec};
use super::super::{open, StemData, StemInfo};
use super::*;

/// Writes `bytes` to a fresh temp file; returns its path.
fn write(name: &str, bytes: &[u8]) -> String {
    let path = temp_path(name);
    std::fs::write(&path, bytes).expect("write a temp file");
    path.to_string_lossy().into_owned()
}

#[test]
fn text_windows_are_slices_of_the_file() {
    let text: Vec<u8> = (0..200u32).map(|i| b'a' + (i % 26) as u8).collect();
    let path = write("a.txt", &text);
    let mut src = open(&format!("text:{path}"), &text_spec(256, 16, 4)).expect("open");
    let mut rng = Rng::new(7);
    let b = src.next_batch(&mut rng).expect("batch");
    assert_eq!(b.layout, vec![("text".to_string(), 16)]);
    assert_eq!(b.tokens(), 64);
    let ids = &b.ids["text"];
    assert_eq!(ids.len(), 64);
    for w in ids.chunks(16) {
        let bytes: Vec<u8> = w.iter().map(|&i| i as u8).collect();
        assert!(text.windows(16).any(|s| s == bytes.as_slice()));
    }
    let again = src.next_batch(&mut Rng::new(7)).expect("batch");
    assert_eq!(b, again);
    assert!(src.describe().contains("windows of 16"));
}

#[test]
fn text_errors() {
    let path = write("short.txt", b"0123456789");
    let spec = text_spec(256, 16, 2);
    let err = open(&format!("text:{path}"), &spec).err();
    assert!(matches!(
        err,
        Some(DataError::FileTooShort {
            elements: 10,
            needed: 17,
            ..
        })
    ));
    let err = open(&format!("text:{path}"), &text_spec(100, 4, 2)).err();
    assert!(matches!(
        err,
        Some(DataError::VocabTooSmall { needed: 256, .. })
    ));
    let mut spec = text_spec(256, 4, 2);
    spec.stems.push(StemInfo {
        name: "image".into(),
        data: StemData::Features { dim: 8, rows: 4 },
    });
    let err = open(&format!("text:{path}"), &spec)
        .err()
        .expect("an error");
    assert!(err.to_string().contains("also has stem image;"), "{err}");
    let err = open("text:/nonexistent/archc/x.txt", &text_spec(256, 4, 2)).err();
    assert!(matches!(err, Some(DataError::Io { .. })));
}

#[test]
fn bin_u16_and_u32_windows_are_consecutive_ids() {
    let ids: Vec<u8> = (0..500u16).flat_map(|i| i.to_le_bytes()).collect();
    let path = write("a.bin", &ids);
    let mut src = open(&format!("bin:{path}"), &text_spec(500, 32, 3)).expect("open");
    let b = src.next_batch(&mut Rng::new(1)).expect("batch");
    for w in b.ids["text"].chunks(32) {
        assert!(w.windows(2).all(|p| p[1] == p[0] + 1), "{w:?}");
    }
    let ids: Vec<u8> = (70_000..70_100u32).flat_map(|i| i.to_le_bytes()).collect();
    let path = write("b.bin", &ids);
    let mut src = open(&format!("bin:{path}:u32"), &text_spec(80_000, 8, 2)).expect("open");
    let b = src.next_batch(&mut Rng::new(1)).expect("batch");
    assert!(b.ids["text"].iter().all(|&i| (70_000..70_100).contains(&i)));
}

#[test]
fn bin_errors() {
    let path = write("odd.bin", &[1, 0, 2, 0, 3]);
    let err = open(&format!("bin:{path}"), &text_spec(10, 1, 1)).err();
    assert!(matches!(
        err,
        Some(DataError::BadSize {
            bytes: 5,
            width: 2,
            ..
        })
    ));
    let ids: Vec<u8> = (0..64u16).flat_map(|i| (i * 10).to_le_bytes()).collect();
    let path = write("big.bin", &ids);
    let mut src = open(&format!("bin:{path}"), &text_spec(100, 16, 4)).expect("open");
    let err = src.next_batch(&mut Rng::new(3)).err();
    match err {
        Some(DataError::BinIdOutOfRange {
            offset, id, vocab, ..
        }) => {
            assert_eq!((id, vocab), (offset * 10, 100));
            assert!(id >= 100);
        }
        other => panic!("expected an out-of-range id, got {other:?}"),
    }
    let err = open(&format!("bin:{path}"), &text_spec(1000, 64, 1)).err();
    assert!(matches!(
        err,
        Some(DataError::FileTooShort { elements: 64, .. })
    ));
}
