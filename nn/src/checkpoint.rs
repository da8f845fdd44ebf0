//! Checkpoints, `archc train`'s format (archc's docs/training.md; archc's runtime compiles
//! this very file, and a generated crate carries it), so a run moves between archc and the
//! generated crate in both directions: a directory `step-NNNNNNNN/` holding
//! `model.safetensors` (the weights by `.arch` name), `optimizer.safetensors` (AdamW's
//! moments, PyTorch names) and `state.json` (step, generator states, the IR's hash and
//! each file's SHA-256, and its own `checksum`). It is written under a temporary name and
//! renamed into place, then `latest` is replaced the same way, so a run killed at any
//! moment leaves the previous checkpoint whole. Reading checks every hash (state.json's
//! too), that every weight and moment is finite, and the architecture, before anything is
//! loaded; a run directory resumes from the newest intact checkpoint when `latest` names a
//! damaged one. A run directory has one writer: [`begin`] takes an OS lock on `DIR/.lock`
//! (released when the process ends, however it ends) and refuses a second writer with the
//! first one's pid.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// 2: state.json carries its own checksum (format 1 had none).
pub const FORMAT: u32 = 2;
const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";
const LATEST: &str = "latest";
const LOCK: &str = ".lock";
/// Where a damaged checkpoint is moved when a run resumes from an older one.
const DAMAGED: &str = ".damaged-";

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
    /// SHA-256 of this state as JSON with `checksum` empty (so an edit of any field shows).
    #[serde(default)]
    pub checksum: String,
}

impl State {
    /// The checksum of the state's other fields (its JSON with `checksum` empty).
    pub fn digest(&self) -> String {
        let mut s = self.clone();
        s.checksum = String::new();
        sha256(&serde_json::to_vec_pretty(&s).unwrap_or_default())
    }
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
    /// Another process holds the run directory's lock.
    Busy {
        dir: PathBuf,
        pid: Option<u32>,
    },
    /// A new run in a directory that holds one.
    HoldsARun {
        dir: PathBuf,
        checkpoint: PathBuf,
    },
    /// Weights or moments to be written are not all finite.
    NonFinite {
        what: String,
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
            CheckpointError::Busy { dir, pid } => write!(
                f,
                "`{}` is being written by another training process ({}): a run directory has one writer; wait for it to end, or train into another directory with -o",
                dir.display(),
                pid.map_or("its pid is not recorded".to_string(), |p| format!("pid {p}"))
            ),
            CheckpointError::HoldsARun { dir, checkpoint } => write!(
                f,
                "`{}` already holds a run (checkpoint `{}`): pass --resume to continue it, or -o another directory",
                dir.display(),
                checkpoint.display()
            ),
            CheckpointError::NonFinite { what } => write!(
                f,
                "{what} holds NaN or infinite values; no checkpoint was written"
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

/// The first tensor of a safetensors file with a NaN or infinite f32 value, if any (a file
/// that does not parse is `Err`).
fn non_finite(bytes: &[u8]) -> Result<Option<String>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut names = st.names();
    names.sort();
    for name in names {
        let t = st.tensor(name).map_err(|e| e.to_string())?;
        if t.dtype() == safetensors::Dtype::F32
            && t.data()
                .chunks_exact(4)
                .any(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
        {
            return Ok(Some(name.to_string()));
        }
    }
    Ok(None)
}

/// Writes a checkpoint into `dir` (a run's `checkpoints/`), points `latest` at it, and
/// removes older checkpoints beyond the newest `keep` and what killed writes left. Weights
/// or moments that are not all finite are refused (so every checkpoint is a good one).
/// Returns its path.
pub fn write(
    dir: &Path,
    mut state: State,
    model: &[u8],
    optimizer: &[u8],
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    for (what, bytes) in [
        ("the weights", model),
        ("the optimizer's moments", optimizer),
    ] {
        match non_finite(bytes) {
            Ok(None) => {}
            Ok(Some(t)) => {
                return Err(CheckpointError::NonFinite {
                    what: format!("{what} (tensor `{t}`)"),
                })
            }
            Err(e) => {
                return Err(CheckpointError::Io {
                    path: dir.to_path_buf(),
                    error: format!("{what} do not serialise: {e}"),
                })
            }
        }
    }
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = format!("step-{:08}", state.step);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    state.files = BTreeMap::from([
        (MODEL.to_string(), sha256(model)),
        (OPTIMIZER.to_string(), sha256(optimizer)),
    ]);
    state.checksum = state.digest();
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
    sweep(dir);
    Ok(fin)
}

/// Removes what writes killed half way left in `dir` (`.step-N.tmp-PID` folders and
/// `.latest.tmp-PID` files). Only the run directory's one writer calls it.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') && name.contains(".tmp-") {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// The checkpoint directories in `dir`, oldest first.
fn steps_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut steps: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("step-"))
        })
        .collect();
    steps.sort();
    steps
}

fn prune(dir: &Path, keep: usize) {
    let steps = steps_in(dir);
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
            if !dir.join(name).is_dir() {
                return Err(CheckpointError::Corrupt {
                    path: latest,
                    why: format!(
                        "`latest` names `{name}`, which is not in `{}`",
                        dir.display()
                    ),
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

/// Reads the checkpoint `path` names and verifies it: its format, state.json against its
/// checksum, every file against its recorded hash, every value finite, and that it is of
/// the model whose IR hashes to `ir_sha256`.
pub fn read(path: &Path, model: &str, ir_sha256: &str) -> Result<Loaded, CheckpointError> {
    read_at(resolve(path)?, model, ir_sha256)
}

fn read_at(path: PathBuf, model: &str, ir_sha256: &str) -> Result<Loaded, CheckpointError> {
    let corrupt = |why: String| CheckpointError::Corrupt {
        path: path.clone(),
        why,
    };
    let json = fs::read(path.join(STATE)).map_err(|e| io(&path.join(STATE), e))?;
    let state: State = serde_json::from_slice(&json)
        .map_err(|e| corrupt(format!("`{STATE}` does not parse ({e})")))?;
    if state.format != FORMAT {
        return Err(corrupt(format!(
            "format {} (this code reads format {FORMAT}{})",
            state.format,
            if state.format < FORMAT {
                "; it was written by an older archc"
            } else {
                ""
            }
        )));
    }
    if state.checksum != state.digest() {
        return Err(corrupt(format!(
            "`{STATE}` does not match its checksum (edited or damaged since it was written)"
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
        match non_finite(&bytes) {
            Ok(None) => {}
            Ok(Some(t)) => {
                return Err(corrupt(format!(
                    "`{file}` holds NaN or infinite values (tensor `{t}`)"
                )))
            }
            Err(e) => return Err(corrupt(format!("`{file}` is not safetensors ({e})"))),
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

/// The checkpoint to continue a run from: the one `latest` names, or, when that one is
/// damaged (or `latest` is), the newest intact one, with a note saying so. The run's
/// writer (`set_aside`) moves the damaged checkpoint to `.damaged-step-N` (kept, not
/// deleted), so its next checkpoints are not pruned in its favour; a reader changes
/// nothing. A checkpoint of another architecture is an error, never skipped.
pub fn read_newest(
    run: &Path,
    model: &str,
    ir_sha256: &str,
    set_aside: bool,
) -> Result<(Loaded, Option<String>), CheckpointError> {
    let first = match read(run, model, ir_sha256) {
        Ok(c) => return Ok((c, None)),
        Err(e @ CheckpointError::OtherModel { .. }) => return Err(e),
        Err(e) => e,
    };
    let dir = if run.join("checkpoints").is_dir() {
        run.join("checkpoints")
    } else {
        run.to_path_buf()
    };
    let damaged = resolve(run).ok();
    for cand in steps_in(&dir).into_iter().rev() {
        if Some(&cand) == damaged.as_ref() {
            continue;
        }
        match read_at(cand, model, ir_sha256) {
            Ok(c) => {
                let moved = damaged.as_ref().filter(|_| set_aside).and_then(|d| {
                    let name = d.file_name()?.to_str()?.to_string();
                    let to = dir.join(format!("{DAMAGED}{name}"));
                    let _ = fs::remove_dir_all(&to);
                    fs::rename(d, &to).ok().map(|()| to)
                });
                let note = format!(
                    "{first}; resuming from `{}` (step {}), the newest intact checkpoint{}",
                    c.path.display(),
                    c.state.step,
                    moved.map_or(String::new(), |m| format!(
                        " (the damaged one is kept as `{}`)",
                        m.display()
                    ))
                );
                return Ok((c, Some(note)));
            }
            Err(e @ CheckpointError::OtherModel { .. }) => return Err(e),
            Err(_) => continue,
        }
    }
    Err(first)
}

/// The run directory's lock, held until it is dropped (or the process ends).
pub struct RunLock {
    _file: fs::File,
}

/// Takes `DIR/.lock` (creating DIR), or says which process holds it.
pub fn lock(dir: &Path) -> Result<RunLock, CheckpointError> {
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(LOCK);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let pid = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(CheckpointError::Busy {
                dir: dir.to_path_buf(),
                pid,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io(&path, e)),
    }
    file.set_len(0).map_err(|e| io(&path, e))?;
    write!(file, "{}", std::process::id()).map_err(|e| io(&path, e))?;
    file.flush().map_err(|e| io(&path, e))?;
    Ok(RunLock { _file: file })
}

/// A run directory opened for writing: its lock, and for `--resume` the checkpoint it
/// continues from (with a note when that is not the one `latest` named).
pub struct Begun {
    pub lock: RunLock,
    pub resume: Option<Loaded>,
    pub note: Option<String>,
}

/// Opens `dir` for one writer: takes its lock, clears what killed writes left, and reads
/// the checkpoint to resume from (`resume`), or refuses a new run where one exists.
pub fn begin(
    dir: &Path,
    resume: bool,
    model: &str,
    ir_sha256: &str,
) -> Result<Begun, CheckpointError> {
    let lock = lock(dir)?;
    sweep(&dir.join("checkpoints"));
    if !resume {
        if let Ok(p) = resolve(dir) {
            return Err(CheckpointError::HoldsARun {
                dir: dir.to_path_buf(),
                checkpoint: p,
            });
        }
        if let Some(p) = steps_in(&dir.join("checkpoints")).pop() {
            return Err(CheckpointError::HoldsARun {
                dir: dir.to_path_buf(),
                checkpoint: p,
            });
        }
        return Ok(Begun {
            lock,
            resume: None,
            note: None,
        });
    }
    let (c, note) = read_newest(dir, model, ir_sha256, true)?;
    Ok(Begun {
        lock,
        resume: Some(c),
        note,
    })
}
