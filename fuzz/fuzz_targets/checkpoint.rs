//! Fuzz target: any byte string as a run directory's checkpoints, read the way `--resume`
//! and `sample` read them (nn/src/checkpoint.rs, compiled here by path; the
//! runtime and every generated crate use that file).
//!
//! The input is split at `\n--8<--\n` into state.json, model.safetensors,
//! optimizer.safetensors and `latest`; its first byte holds flags: bit 0 re-signs a state
//! that parses (its files' SHA-256 and its checksum recomputed, so the reader's later
//! checks are reached), bit 1 writes `latest`, bit 2 adds an older intact-looking copy
//! (step-00000001) for the fallback, bit 3 reads as the run's writer (damaged ones are
//! set aside). Invariants:
//! - `resolve`, `read`, `read_newest` and `sweep` never panic: damage is a
//!   `CheckpointError`;
//! - what is read is what was verified: its state's checksum is its digest, its files
//!   match the recorded SHA-256 and are finite safetensors.
#![no_main]

#[allow(dead_code)]
#[path = "../../nn/src/checkpoint.rs"]
mod checkpoint;

use libfuzzer_sys::fuzz_target;
use std::fs;

const MODEL: &str = "fuzz";
const IR: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn split(mut rest: &[u8]) -> Vec<&[u8]> {
    const CUT: &[u8] = b"\n--8<--\n";
    let mut parts = Vec::new();
    while parts.len() < 3 {
        match rest.windows(CUT.len()).position(|w| w == CUT) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + CUT.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts.resize(4, &[]);
    parts
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let parts = split(rest);
    let (state, model, optimizer, latest) = (parts[0], parts[1], parts[2], parts[3]);
    let mut state = state.to_vec();
    if flags & 1 != 0 {
        if let Ok(mut s) = serde_json::from_slice::<checkpoint::State>(&state) {
            s.files.insert("model.safetensors".into(), checkpoint::sha256(model));
            s.files.insert("optimizer.safetensors".into(), checkpoint::sha256(optimizer));
            s.model = MODEL.into();
            s.ir_sha256 = IR.into();
            s.checksum = s.digest();
            state = serde_json::to_vec_pretty(&s).unwrap_or_default();
        }
    }
    let run = std::env::temp_dir().join(format!("archc-fuzz-ckpt-{}", std::process::id()));
    let _ = fs::remove_dir_all(&run);
    let dir = run.join("checkpoints");
    let mut steps = vec!["step-00000002"];
    if flags & 4 != 0 {
        steps.push("step-00000001");
    }
    for step in &steps {
        let at = dir.join(step);
        if fs::create_dir_all(&at).is_err() {
            return;
        }
        let _ = fs::write(at.join("state.json"), &state);
        let _ = fs::write(at.join("model.safetensors"), model);
        let _ = fs::write(at.join("optimizer.safetensors"), optimizer);
    }
    if flags & 2 != 0 {
        let _ = fs::write(dir.join("latest"), latest);
    }
    let _ = checkpoint::resolve(&run);
    let check = |c: &checkpoint::Loaded| {
        assert_eq!(c.state.checksum, c.state.digest(), "a state read with a wrong checksum");
        for (file, bytes) in [("model.safetensors", &c.model), ("optimizer.safetensors", &c.optimizer)] {
            assert_eq!(c.state.files.get(file), Some(&checkpoint::sha256(bytes)), "{file} read with a wrong hash");
            assert!(
                safetensors::SafeTensors::deserialize(bytes).is_ok(),
                "{file} read though it is not safetensors"
            );
        }
    };
    if let Ok(c) = checkpoint::read(&run, MODEL, IR) {
        check(&c);
    }
    if let Ok((c, _)) = checkpoint::read_newest(&run, MODEL, IR, flags & 8 != 0) {
        check(&c);
    }
    checkpoint::sweep(&dir);
});
