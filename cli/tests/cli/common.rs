//! What the tests share: temp dirs, running the binary with a time limit, assertions on
//! its exit and streams, the bundled models, a fixed-seed generator.

pub(crate) use std::io::Read;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::{Command, Output, Stdio};
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_archc");
/// Generous: a debug build checking a few MB of hostile input takes well under this.
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(120);

/// A fresh, unique directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "archc-cli-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub(crate) fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `archc ARGS` with a time limit, capturing both streams (read on threads, so a
/// megabyte of diagnostics cannot fill a pipe and deadlock the child).
pub(crate) fn archc<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn archc");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for archc") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("archc did not finish within {TIME_LIMIT:?} (hang)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

pub(crate) fn check(path: &Path) -> Output {
    archc([Path::new("check"), path])
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A short, readable excerpt of a possibly huge stream for assertion messages.
pub(crate) fn excerpt(s: &str) -> String {
    let mut end = s.len().min(1500);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}… [{} bytes in all]", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

/// The diagnostic codes (`A` and four digits) that appear in `s`.
pub(crate) fn codes(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len() {
        let is_code = b[i] == b'A'
            && b.len() >= i + 5
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 5).is_none_or(|c| !c.is_ascii_alphanumeric());
        if is_code {
            out.push(s[i..i + 5].to_string());
        }
    }
    out
}

pub(crate) fn assert_no_panic(o: &Output) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked"),
        "archc panicked:\n{}",
        excerpt(&err)
    );
    // A panic exits 101; a signal (stack overflow: SIGSEGV/SIGABRT) has no code at all.
    assert!(
        o.status.code().is_some(),
        "archc was killed by a signal ({:?}); stderr:\n{}",
        o.status,
        excerpt(&err)
    );
}

/// Exit 1, no panic, and a coded diagnostic on stderr; `want` (if given) is among the codes.
pub(crate) fn assert_diagnosed(o: &Output, want: Option<&str>) {
    assert_no_panic(o);
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1; stderr:\n{}",
        excerpt(&err)
    );
    let found = codes(&err);
    assert!(
        !found.is_empty(),
        "no diagnostic code on stderr:\n{}",
        excerpt(&err)
    );
    if let Some(want) = want {
        assert!(
            found.iter().any(|c| c == want),
            "expected {want}, found {found:?}; stderr:\n{}",
            excerpt(&err)
        );
    }
}

pub(crate) fn assert_clean(o: &Output) {
    assert_no_panic(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "expected exit 0; stderr:\n{}",
        excerpt(&stderr(o))
    );
}

pub(crate) fn assert_usage_error(o: &Output) {
    assert_no_panic(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2; stderr:\n{}",
        excerpt(&stderr(o))
    );
    assert!(!o.stderr.is_empty(), "exit 2 without a message on stderr");
}

pub(crate) fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

pub(crate) fn model_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("read models/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no models/*.arch found");
    v
}

pub(crate) fn gpt2_tiny() -> String {
    std::fs::read_to_string(models_dir().join("gpt2-tiny.arch")).expect("read gpt2-tiny.arch")
}

/// gpt2-tiny with one `param NAME = ...` line replaced by `param NAME = value`.
pub(crate) fn gpt2_tiny_with(name: &str, value: &str) -> String {
    let src = gpt2_tiny();
    let mut replaced = false;
    let out: Vec<String> = src
        .lines()
        .map(|l| {
            let is_it = l
                .strip_prefix("param ")
                .and_then(|r| r.trim_start().strip_prefix(name))
                .is_some_and(|r| r.trim_start().starts_with('='));
            if is_it {
                replaced = true;
                format!("param {name} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(replaced, "gpt2-tiny.arch has no `param {name}`");
    out.join("\n") + "\n"
}

/// xorshift64: a fixed-seed generator, so a failure reproduces byte for byte.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}
