//! Random windows of a token file: a byte-level text file (`text:PATH`, each byte an id
//! 0..=255) or a nanoGPT `.bin` (`bin:PATH[:u16|u32]`, a flat little-endian array of
//! ids, no header). A batch is `batch` windows of the text length at offsets drawn from
//! the rng, as nanoGPT's `get_batch` draws them. The file is read window by window,
//! never whole, so a file of many GB costs no memory.

use super::{DataError, DataSpec, HostBatch, Source};
use crate::rng::Rng;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// How a file stores its ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Width {
    /// One byte per id: a text file read as bytes.
    Byte,
    /// Little-endian u16 per id (nanoGPT's default).
    U16,
    /// Little-endian u32 per id (for vocabularies over 65536).
    U32,
}

impl Width {
    /// Bytes per id.
    fn bytes(self) -> usize {
        match self {
            Width::Byte => 1,
            Width::U16 => 2,
            Width::U32 => 4,
        }
    }

    /// The `--data` spelling of a file of this width at `path`.
    fn source(self, path: &str) -> String {
        match self {
            Width::Byte => format!("--data text:{path}"),
            Width::U16 => format!("--data bin:{path}:u16"),
            Width::U32 => format!("--data bin:{path}:u32"),
        }
    }

    /// The id stored in `chunk` (`bytes()` long).
    fn decode(self, chunk: &[u8]) -> u64 {
        chunk
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }
}

/// Windows of one token file, feeding the model's one text stem.
#[derive(Debug)]
pub(super) struct Windows {
    path: String,
    file: File,
    width: Width,
    /// Ids in the file.
    elements: u64,
    stem: String,
    vocab: u64,
    /// Window length: the text segment's length.
    len: usize,
    batch: usize,
    /// One window's bytes, reused.
    buf: Vec<u8>,
}

impl Windows {
    /// Opens `path` for a model that must have exactly one stem, a text one.
    pub(super) fn open(path: &str, width: Width, spec: &DataSpec) -> Result<Self, DataError> {
        let source = width.source(path);
        let (stem, vocab, max_len) = text_stem(&source, spec)?;
        if width == Width::Byte && vocab < 256 {
            return Err(DataError::VocabTooSmall {
                source,
                stem,
                vocab,
                needed: 256,
                why: "a text file's bytes are ids 0..=255".into(),
                fix: "raise the stem's vocab, or tokenize the text into bin:PATH".into(),
            });
        }
        let len = spec.text_segment(max_len);
        if len == 0 {
            return Err(DataError::StemTooSmall {
                source,
                stem,
                len,
                needed: 1,
                why: "a window holds at least one id".into(),
            });
        }
        let io = |e: std::io::Error| DataError::Io {
            path: path.to_string(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        let elements = file_elements(path, bytes, width)?;
        let needed = (len as u64).saturating_add(1);
        if elements < needed {
            return Err(DataError::FileTooShort {
                path: path.to_string(),
                elements,
                needed,
            });
        }
        let oversized = || DataError::Oversized {
            source: source.clone(),
            what: format!("{} windows of {len} ids", spec.batch),
        };
        let buf_len = len.checked_mul(width.bytes()).ok_or_else(oversized)?;
        spec.batch.checked_mul(len).ok_or_else(oversized)?;
        Ok(Windows {
            path: path.to_string(),
            file,
            width,
            elements,
            stem,
            vocab,
            len,
            batch: spec.batch,
            buf: vec![0; buf_len],
        })
    }

    /// Appends the window of `len` ids starting at element `offset` to `out`, checking
    /// every id against the vocab.
    fn window(&mut self, offset: u64, out: &mut Vec<i64>) -> Result<(), DataError> {
        let io = |e: std::io::Error| DataError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let at = offset.saturating_mul(self.width.bytes() as u64);
        self.file.seek(SeekFrom::Start(at)).map_err(io)?;
        self.file.read_exact(&mut self.buf).map_err(io)?;
        for (j, chunk) in self.buf.chunks_exact(self.width.bytes()).enumerate() {
            let id = self.width.decode(chunk);
            if id >= self.vocab {
                return Err(DataError::BinIdOutOfRange {
                    path: self.path.clone(),
                    offset: offset + j as u64,
                    id,
                    vocab: self.vocab,
                });
            }
            // An id below a u64 vocab that fits the file's 32 bits fits an i64.
            out.push(id as i64);
        }
        Ok(())
    }
}

impl Source for Windows {
    fn next_batch(&mut self, rng: &mut Rng) -> Result<HostBatch, DataError> {
        // Offsets 0..elements - len, so every window has a next id after it.
        let starts = usize::try_from(self.elements - self.len as u64).unwrap_or(usize::MAX);
        let mut ids = Vec::with_capacity(self.batch * self.len); // [batch, len]
        for _ in 0..self.batch {
            let offset = rng.below(starts) as u64;
            self.window(offset, &mut ids)?;
        }
        Ok(HostBatch {
            batch: self.batch,
            layout: vec![(self.stem.clone(), self.len)],
            ids: BTreeMap::from([(self.stem.clone(), ids)]),
            features: BTreeMap::new(),
            dims: BTreeMap::new(),
        })
    }

    fn describe(&self) -> String {
        let what = match self.width {
            Width::Byte => "byte-level text",
            Width::U16 => "u16 token ids",
            Width::U32 => "u32 token ids",
        };
        format!(
            "{what} {}: {} ids, random windows of {} into stem `{}`",
            self.path, self.elements, self.len, self.stem
        )
    }
}

/// Ids in a file of `bytes` bytes; an error if the size is not a whole number of ids.
fn file_elements(path: &str, bytes: u64, width: Width) -> Result<u64, DataError> {
    let w = width.bytes() as u64;
    if !bytes.is_multiple_of(w) {
        return Err(DataError::BadSize {
            path: path.to_string(),
            bytes,
            width: width.bytes(),
        });
    }
    Ok(bytes / w)
}

/// The model's one text stem: (name, vocab, max_len). A token file feeds nothing else,
/// so any other stem is an error.
fn text_stem(source: &str, spec: &DataSpec) -> Result<(String, u64, u64), DataError> {
    let Some((text, vocab, max_len)) = spec.text_stems().next() else {
        return Err(DataError::MissingStem {
            source: source.to_string(),
            needed: "a tokens (text) stem".into(),
        });
    };
    let others: Vec<String> = spec
        .stems
        .iter()
        .filter(|s| s.name != text)
        .map(|s| s.name.clone())
        .collect();
    if !others.is_empty() {
        return Err(DataError::ExtraStems {
            source: source.to_string(),
            stems: others,
        });
    }
    Ok((text.to_string(), vocab, max_len))
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
