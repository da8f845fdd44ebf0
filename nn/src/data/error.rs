//! Why a data source could not be opened or could not make a batch.

use std::fmt;

/// Everything that can go wrong opening or reading training data. Each variant carries
/// what a clear message needs: the file, where in it, and what was found vs expected.
#[derive(Debug, Clone, PartialEq)]
pub enum DataError {
    /// `--data` names no known kind of source.
    UnknownKind { arg: String },
    /// A malformed `--data` argument: a missing path, an unknown or bad option.
    BadArg { arg: String, problem: String },
    /// The batch size is 0.
    ZeroBatch,
    /// A file or directory could not be read.
    Io { path: String, message: String },
    /// The model has no stem of a kind the source needs (`needed`: e.g. "a tokens stem").
    MissingStem { source: String, needed: String },
    /// The source feeds only a text stem, and the model has these other stems too.
    ExtraStems { source: String, stems: Vec<String> },
    /// A text stem's vocabulary is smaller than the ids the source makes (`fix`: what
    /// to change).
    VocabTooSmall {
        source: String,
        stem: String,
        vocab: u64,
        needed: u64,
        why: String,
        fix: String,
    },
    /// A stem's segment is shorter than the source needs.
    StemTooSmall {
        source: String,
        stem: String,
        len: usize,
        needed: usize,
        why: String,
    },
    /// A batch would hold more elements than a machine word can count.
    Oversized { source: String, what: String },
    /// A token file holds fewer ids than one window needs (`needed` = window + 1).
    FileTooShort {
        path: String,
        elements: u64,
        needed: u64,
    },
    /// A `.bin` file's size is not a multiple of its id width in bytes.
    BadSize {
        path: String,
        bytes: u64,
        width: usize,
    },
    /// A `.bin` id, at element `offset`, is not below the vocabulary size.
    BinIdOutOfRange {
        path: String,
        offset: u64,
        id: u64,
        vocab: u64,
    },
    /// A shard directory holds no `.safetensors` file.
    NoShards { path: String },
    /// The shards hold no examples at all.
    NoExamples { path: String },
    /// A file is not a readable safetensors file.
    BadShard { path: String, message: String },
    /// A shard has no `layout` entry in its `__metadata__`.
    MissingLayout { path: String },
    /// A shard's layout does not parse or does not fit the model.
    BadLayout {
        path: String,
        layout: String,
        problem: String,
    },
    /// A shard's layout differs from the first shard's.
    LayoutMismatch {
        path: String,
        layout: String,
        first: String,
        first_layout: String,
    },
    /// A shard lacks a tensor its layout needs.
    MissingTensor { path: String, tensor: String },
    /// A shard holds a tensor its layout does not explain.
    UnexpectedTensor {
        path: String,
        tensor: String,
        expected: Vec<String>,
    },
    /// A shard tensor has the wrong dtype.
    WrongDtype {
        path: String,
        tensor: String,
        found: String,
        expected: String,
    },
    /// A shard tensor has the wrong shape.
    WrongShape {
        path: String,
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A shard id outside `0..limit`, at `[example, position]` of its tensor.
    ShardIdOutOfRange {
        path: String,
        tensor: String,
        example: usize,
        position: usize,
        id: i64,
        limit: u64,
    },
    /// A shard feature that is NaN or infinite, in row `[example, position]`.
    NotFinite {
        path: String,
        tensor: String,
        example: usize,
        position: usize,
    },
}

/// `[a, b, c]`.
fn shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            UnknownKind { arg } => write!(
                f,
                "unknown --data `{arg}`: use `synthetic`, `synthetic:entities=12,hops=3`, \
                 `text:PATH`, `bin:PATH[:u16|u32]` or `shards:PATH`"
            ),
            BadArg { arg, problem } => write!(f, "bad --data `{arg}`: {problem}"),
            ZeroBatch => write!(f, "the batch size is 0; use a batch of at least 1"),
            Io { path, message } => write!(
                f,
                "cannot read {path}: {message}; check the path and its permissions"
            ),
            MissingStem { source, needed } => write!(
                f,
                "{source} needs {needed}, and the model has none; \
                 choose a --data source that fits the model's stems (docs/data.md)"
            ),
            ExtraStems { source, stems } => write!(
                f,
                "{source} feeds only the text stem; the model also has stem{} {}; \
                 use --data synthetic or shards:PATH",
                if stems.len() == 1 { "" } else { "s" },
                stems.join(", ")
            ),
            VocabTooSmall {
                source,
                stem,
                vocab,
                needed,
                why,
                fix,
            } => write!(
                f,
                "{source} needs a vocab of at least {needed} in stem `{stem}` ({why}), \
                 and it has {vocab}; {fix}"
            ),
            StemTooSmall {
                source,
                stem,
                len,
                needed,
                why,
            } => write!(
                f,
                "{source} needs at least {needed} positions in stem `{stem}` ({why}), \
                 and it gets {len}"
            ),
            Oversized { source, what } => write!(
                f,
                "{source}: a batch would hold {what}, more than can be counted; \
                 lower the batch size or the stem sizes"
            ),
            FileTooShort {
                path,
                elements,
                needed,
            } => write!(
                f,
                "{path} holds {elements} ids, and a window needs {needed} \
                 (its length + 1); use a longer file or a shorter text length"
            ),
            BadSize { path, bytes, width } => write!(
                f,
                "{path} is {bytes} bytes, not a whole number of {width}-byte ids; \
                 check the file is complete and the id width (`bin:PATH:u16` or `:u32`)"
            ),
            BinIdOutOfRange {
                path,
                offset,
                id,
                vocab,
            } => write!(
                f,
                "{path} has id {id} at element {offset}, outside the text stem's vocab of \
                 {vocab}; check the id width (`:u16` or `:u32`) and the model's vocab"
            ),
            NoShards { path } => write!(
                f,
                "{path} holds no .safetensors files; write shards as docs/data.md shows"
            ),
            NoExamples { path } => write!(
                f,
                "the shards at {path} hold no examples; write at least one"
            ),
            BadShard { path, message } => write!(
                f,
                "{path} is not a readable safetensors file: {message}; rewrite it \
                 (docs/data.md shows how)"
            ),
            MissingLayout { path } => write!(
                f,
                "{path} has no \"layout\" in its __metadata__; save it with \
                 metadata={{\"layout\": \"image:576,text:64\"}} (docs/data.md)"
            ),
            BadLayout {
                path,
                layout,
                problem,
            } => {
                write!(f, "{path} has layout \"{layout}\", which {problem}")
            }
            LayoutMismatch {
                path,
                layout,
                first,
                first_layout,
            } => write!(
                f,
                "{path} has layout \"{layout}\", and {first} has \"{first_layout}\"; \
                 every shard of a run must have the same layout"
            ),
            MissingTensor { path, tensor } => write!(
                f,
                "{path} has no tensor `{tensor}`, which its layout needs; add it"
            ),
            UnexpectedTensor {
                path,
                tensor,
                expected,
            } => write!(
                f,
                "{path} has tensor `{tensor}`, which its layout does not use; \
                 the tensors are {}",
                expected.join(", ")
            ),
            WrongDtype {
                path,
                tensor,
                found,
                expected,
            } => write!(
                f,
                "{path}: tensor `{tensor}` is {found}; it must be {expected}"
            ),
            WrongShape {
                path,
                tensor,
                found,
                expected,
            } => write!(
                f,
                "{path}: tensor `{tensor}` has shape {}; it must be {} \
                 ([examples, the stem's positions in the layout, dim])",
                shape(found),
                shape(expected)
            ),
            ShardIdOutOfRange {
                path,
                tensor,
                example,
                position,
                id,
                limit,
            } => write!(
                f,
                "{path}: tensor `{tensor}` has id {id} at [{example}, {position}], \
                 outside 0..{limit} (the stem's vocab or codebook)"
            ),
            NotFinite {
                path,
                tensor,
                example,
                position,
            } => write!(
                f,
                "{path}: tensor `{tensor}` has a NaN or infinite value in row \
                 [{example}, {position}]"
            ),
        }
    }
}

impl std::error::Error for DataError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_what_was_found() {
        let e = DataError::BinIdOutOfRange {
            path: "train.bin".into(),
            offset: 17,
            id: 70000,
            vocab: 50304,
        };
        let s = e.to_string();
        assert!(
            s.contains("train.bin") && s.contains("17") && s.contains("70000"),
            "{s}"
        );
        let e = DataError::WrongShape {
            path: "a.safetensors".into(),
            tensor: "image.features".into(),
            found: vec![2, 4, 8],
            expected: vec![2, 4, 16],
        };
        assert!(e.to_string().contains("[2, 4, 16]"));
    }
}
