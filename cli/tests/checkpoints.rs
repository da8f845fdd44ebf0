//! Runs that never lose work: one writer per run directory (an OS lock; the second is
//! refused with the first's pid), state.json covered by its own checksum, `--resume` from
//! the newest intact checkpoint when `latest` names a damaged or missing one, NaN weights
//! never "good", what killed writes leave swept away, and a metrics file cut short said
//! out loud on resume.

use archc_runtime::checkpoint::State;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gpt2_tiny() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/gpt2-tiny.arch")
        .display()
        .to_string()
}

fn archc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .output()
        .expect("run archc")
}

fn stderr(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "panic:\n{e}");
    e
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archc-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `archc train gpt2-tiny --steps N -o DIR` with checkpoints every 5 steps (and `extra`).
fn train(dir: &Path, steps: u64, extra: &[&str]) -> Output {
    let (m, d, n) = (gpt2_tiny(), dir.display().to_string(), steps.to_string());
    let mut a = vec![
        "train",
        &m,
        "--steps",
        &n,
        "--checkpoint-every",
        "5",
        "--eval-every",
        "0",
        "-o",
        &d,
    ];
    a.extend_from_slice(extra);
    archc(&a)
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

fn metric_steps(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn ckpt(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("checkpoints/step-{step:08}"))
}

#[test]
fn an_edited_state_json_is_refused_and_the_run_resumes_from_the_intact_one() {
    let dir = tmp("state");
    ok(&train(&dir, 10, &[]));
    let state = ckpt(&dir, 10).join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.contains("\"step\": 10"), "{text}");
    std::fs::write(&state, text.replace("\"step\": 10", "\"step\": 0")).unwrap();

    // A checkpoint named itself is read as it is: refused.
    let path = ckpt(&dir, 10).display().to_string();
    let o = archc(&["sample", &gpt2_tiny(), "--checkpoint", &path]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not match its checksum"),
        "{}",
        stderr(&o)
    );

    // The run resumes from step 5, says so, and keeps the damaged one aside.
    let o = train(&dir, 12, &["--resume"]);
    ok(&o);
    let e = stderr(&o);
    assert!(e.contains("does not match its checksum"), "{e}");
    assert!(e.contains("resuming from") && e.contains("(step 5)"), "{e}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("steps 6 to 12"));
    assert!(dir.join("checkpoints/.damaged-step-00000010").is_dir());
    assert_eq!(metric_steps(&dir), (1..=12).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dangling_or_damaged_latest_falls_back_to_the_newest_intact_checkpoint() {
    let dir = tmp("latest");
    ok(&train(&dir, 10, &[]));
    std::fs::write(dir.join("checkpoints/latest"), "step-00000099").unwrap();
    // A reader names the problem and reads the newest intact one, changing nothing.
    let d = dir.display().to_string();
    let o = archc(&[
        "sample",
        &gpt2_tiny(),
        "--checkpoint",
        &d,
        "--max-tokens",
        "2",
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains("`latest` names `step-00000099`, which is not in"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("(step 10)"), "{}", stderr(&o));

    // Truncated weights in the newest: resume from the one before.
    std::fs::write(dir.join("checkpoints/latest"), "step-00000010").unwrap();
    let w = ckpt(&dir, 10).join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 3]).unwrap();
    let o = train(&dir, 10, &["--resume"]);
    ok(&o);
    assert!(stderr(&o).contains("(step 5)"), "{}", stderr(&o));
    assert_eq!(metric_steps(&dir), (1..=10).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `model.safetensors` with its first f32 value NaN, and a state.json whose hash
/// and checksum match it (as if the weights had been NaN when they were written).
fn poison(ck: &Path) {
    let w = ck.join("model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let at = 8 + header;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&w, &bytes).unwrap();
    let path = ck.join("state.json");
    let mut state: State = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state.files.insert(
        "model.safetensors".into(),
        archc_runtime::checkpoint::sha256(&bytes),
    );
    state.checksum = state.digest();
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

#[test]
fn nan_weights_are_never_a_good_checkpoint() {
    let dir = tmp("nan");
    ok(&train(&dir, 5, &[]));
    poison(&ckpt(&dir, 5));
    let o = train(&dir, 10, &["--resume"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("holds NaN or infinite values (tensor `"), "{e}");
    assert!(!e.contains("last good"), "{e}");

    // With an older intact one, the run resumes from it.
    let dir2 = tmp("nan2");
    ok(&train(&dir2, 10, &[]));
    poison(&ckpt(&dir2, 10));
    let o = train(&dir2, 10, &["--resume"]);
    ok(&o);
    assert!(stderr(&o).contains("NaN") && stderr(&o).contains("(step 5)"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn what_killed_writes_left_is_removed() {
    let dir = tmp("sweep");
    ok(&train(&dir, 5, &[]));
    let cks = dir.join("checkpoints");
    std::fs::create_dir_all(cks.join(".step-00000010.tmp-4242")).unwrap();
    std::fs::write(
        cks.join(".step-00000010.tmp-4242/model.safetensors"),
        [0u8; 1024],
    )
    .unwrap();
    std::fs::write(cks.join(".latest.tmp-4242"), "step-00000010").unwrap();
    ok(&train(&dir, 7, &["--resume"]));
    let left: Vec<String> = std::fs::read_dir(&cks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_metrics_file_cut_short_is_said_on_resume() {
    let dir = tmp("metrics");
    ok(&train(&dir, 10, &[]));
    let m = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&m).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The header, steps 1-5, and half of step 6's line.
    let cut = format!(
        "{}\n{}",
        lines[..6].join("\n"),
        &lines[6][..lines[6].len() / 2]
    );
    std::fs::write(&m, cut).unwrap();
    let o = train(&dir, 12, &["--resume"]);
    ok(&o);
    let e = stderr(&o);
    assert!(e.contains("has no line for step(s) 6-10 of the 10"), "{e}");
    let mut want: Vec<u64> = (1..=5).collect();
    want.extend(11..=12);
    assert_eq!(metric_steps(&dir), want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_directory_has_one_writer() {
    let dir = tmp("writers");
    let (m, d) = (gpt2_tiny(), dir.display().to_string());
    let mut first = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args([
            "train",
            &m,
            "--steps",
            "100000",
            "--eval-every",
            "0",
            "-o",
            &d,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = dir.join(".lock");
    let t0 = Instant::now();
    let pid = first.id().to_string();
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(&pid)
        && t0.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    for extra in [&["--seed", "1"][..], &["--resume"][..]] {
        let o = train(&dir, 400, extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        let e = stderr(&o);
        assert!(
            e.contains(&format!("another training process (pid {pid})")),
            "{e}"
        );
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock went with the process: the run can be resumed (or is refused for other
    // reasons, never for a writer that is gone).
    let o = train(&dir, 1, &["--resume"]);
    assert!(
        !stderr(&o).contains("another training process"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
