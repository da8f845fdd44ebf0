//! Checkpoints, `archc train`'s format (archc's docs/training.md; archc's runtime compiles
//! this very file, and a generated crate carries it), so a run moves between archc and the
//! generated crate in both directions: a directory `step-NNNNNNNN/` holding
//! `model.safetensors` (the weights by `.arch` name), `optimizer.safetensors` (AdamW's
//! moments, PyTorch names) and `state.json` (step, generator states, the IR's hash and
//! each file's SHA-256). It is written under a temporary name and renamed into place, then
//! `latest` is replaced the same way, so a run killed at any moment leaves the previous
//! checkpoint whole. Reading checks every hash and the architecture before anything is
//! loaded.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FORMAT: u32 = 1;
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";
const LATEST: &str = "latest";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    /// The model's name and the SHA-256 of its IR (`archc build`'s `ir.yaml`).
    pub model: String,
    pub ir_sha256: String,
    /// Optimizer steps taken.
    pub step: u64,
    /// AdamW's update count.
    pub adam_t: u64,
    pub seed: u64,
    /// The trainer's generator states (draws, data).
    pub draws_rng: u64,
    pub data_rng: u64,
    /// The `--data` argument the run was started with.
    pub data: String,
    /// The optimisation settings (batch, lr, ...), to refuse resuming with others.
    pub settings: BTreeMap<String, String>,
    /// SHA-256 of each file of the checkpoint.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckpointError {
    Io {
        path: PathBuf,
        error: String,
    },
    NotACheckpoint {
        path: PathBuf,
    },
    Corrupt {
        path: PathBuf,
        why: String,
    },
    OtherModel {
        path: PathBuf,
        theirs: String,
        their_hash: String,
        ours: String,
        our_hash: String,
    },
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Io { path, error } => {
                write!(f, "cannot read checkpoint `{}`: {error}", path.display())
            }
            CheckpointError::NotACheckpoint { path } => write!(
                f,
                "`{}` is not a checkpoint: it has no `{STATE}` and no `checkpoints/{LATEST}`",
                path.display()
            ),
            CheckpointError::Corrupt { path, why } => write!(
                f,
                "checkpoint `{}` is damaged and was not loaded: {why}",
                path.display()
            ),
            CheckpointError::OtherModel {
                path,
                theirs,
                their_hash,
                ours,
                our_hash,
            } => write!(
                f,
                "checkpoint `{}` is of another architecture: `{theirs}` (IR sha256 {}), not `{ours}` (IR sha256 {}); it was not loaded",
                path.display(),
                &their_hash[..their_hash.len().min(12)],
                &our_hash[..our_hash.len().min(12)]
            ),
        }
    }
}

impl std::error::Error for CheckpointError {}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(path: &Path, e: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        error: e.to_string(),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes a checkpoint into `dir` (a run's `checkpoints/`), points `latest` at it, and
/// removes older checkpoints beyond the newest `keep`. Returns its path.
pub fn write(
    dir: &Path,
    mut state: State,
    model: &[u8],
    optimizer: &[u8],
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = format!("step-{:08}", state.step);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    state.files = BTreeMap::from([
        (MODEL.to_string(), sha256(model)),
        (OPTIMIZER.to_string(), sha256(optimizer)),
    ]);
    let json = serde_json::to_vec_pretty(&state).map_err(|e| CheckpointError::Io {
        path: dir.to_path_buf(),
        error: e.to_string(),
    })?;
    for (file, bytes) in [(MODEL, model), (OPTIMIZER, optimizer), (STATE, &json[..])] {
        write_synced(&tmp.join(file), bytes).map_err(|e| io(&tmp.join(file), e))?;
    }
    let fin = dir.join(&name);
    if fin.exists() {
        fs::remove_dir_all(&fin).map_err(|e| io(&fin, e))?;
    }
    fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
    let tmp_latest = dir.join(format!(".{LATEST}.tmp-{}", std::process::id()));
    write_synced(&tmp_latest, name.as_bytes()).map_err(|e| io(&tmp_latest, e))?;
    fs::rename(&tmp_latest, dir.join(LATEST)).map_err(|e| io(dir, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    prune(dir, keep);
    Ok(fin)
}

fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut steps: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    steps.sort();
    let n = steps.len();
    for old in steps.into_iter().take(n.saturating_sub(keep.max(1))) {
        let _ = fs::remove_dir_all(old);
    }
}

/// The checkpoint a path names: a checkpoint directory itself, or a run directory (or its
/// `checkpoints/`) whose `latest` names one.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    if path.join(STATE).is_file() {
        return Ok(path.to_path_buf());
    }
    for dir in [path.join("checkpoints"), path.to_path_buf()] {
        let latest = dir.join(LATEST);
        if latest.is_file() {
            let name = fs::read_to_string(&latest).map_err(|e| io(&latest, e))?;
            let name = name.trim();
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(CheckpointError::Corrupt {
                    path: latest,
                    why: "`latest` does not name a checkpoint".into(),
                });
            }
            return Ok(dir.join(name));
        }
    }
    Err(CheckpointError::NotACheckpoint {
        path: path.to_path_buf(),
    })
}

/// A checkpoint read back and verified.
pub struct Loaded {
    pub path: PathBuf,
    pub state: State,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

/// Reads the checkpoint `path` names and verifies it: its format, every file against its
/// recorded hash, and that it is of the model whose IR hashes to `ir_sha256`.
pub fn read(path: &Path, model: &str, ir_sha256: &str) -> Result<Loaded, CheckpointError> {
    let path = resolve(path)?;
    let corrupt = |why: String| CheckpointError::Corrupt {
        path: path.clone(),
        why,
    };
    let json = fs::read(path.join(STATE)).map_err(|e| io(&path.join(STATE), e))?;
    let state: State = serde_json::from_slice(&json)
        .map_err(|e| corrupt(format!("`{STATE}` does not parse ({e})")))?;
    if state.format != FORMAT {
        return Err(corrupt(format!(
            "format {} (this code reads format {FORMAT})",
            state.format
        )));
    }
    if state.ir_sha256 != ir_sha256 {
        return Err(CheckpointError::OtherModel {
            path,
            theirs: state.model,
            their_hash: state.ir_sha256,
            ours: model.to_string(),
            our_hash: ir_sha256.to_string(),
        });
    }
    let mut files = Vec::new();
    for file in [MODEL, OPTIMIZER] {
        let bytes = fs::read(path.join(file)).map_err(|e| io(&path.join(file), e))?;
        let want = state
            .files
            .get(file)
            .ok_or_else(|| corrupt(format!("`{STATE}` records no hash for `{file}`")))?;
        if &sha256(&bytes) != want {
            return Err(corrupt(format!(
                "`{file}` ({} bytes) does not match the SHA-256 recorded when it was written (truncated or changed since)",
                bytes.len()
            )));
        }
        files.push(bytes);
    }
    let optimizer = files.pop().unwrap_or_default();
    let model = files.pop().unwrap_or_default();
    Ok(Loaded {
        path,
        state,
        model,
        optimizer,
    })
}
