//! Robustness tests of the `archc` binary: hostile inputs must give exit code 1 and a
//! coded diagnostic (`A0003`) on stderr, never a panic; usage and IO errors exit 2;
//! every bundled model checks clean; `fmt` and `--format json` behave.
//!
//! Inputs are written to a fresh directory under `std::env::temp_dir()` per test.
//! Each run of the binary has a time limit, so a hang fails the test instead of
//! stalling the suite.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_archc");
/// Generous: a debug build checking a few MB of hostile input takes well under this.
const TIME_LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A fresh, unique directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
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

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }

    fn path(&self) -> &Path {
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
fn archc<I, S>(args: I) -> Output
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

fn check(path: &Path) -> Output {
    archc([Path::new("check"), path])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A short, readable excerpt of a possibly huge stream for assertion messages.
fn excerpt(s: &str) -> String {
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
fn codes(s: &str) -> Vec<String> {
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

fn assert_no_panic(o: &Output) {
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
fn assert_diagnosed(o: &Output, want: Option<&str>) {
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

fn assert_clean(o: &Output) {
    assert_no_panic(o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "expected exit 0; stderr:\n{}",
        excerpt(&stderr(o))
    );
}

fn assert_usage_error(o: &Output) {
    assert_no_panic(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2; stderr:\n{}",
        excerpt(&stderr(o))
    );
    assert!(!o.stderr.is_empty(), "exit 2 without a message on stderr");
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn model_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("read models/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "arch"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no models/*.arch found");
    v
}

fn gpt2_tiny() -> String {
    std::fs::read_to_string(models_dir().join("gpt2-tiny.arch")).expect("read gpt2-tiny.arch")
}

/// gpt2-tiny with one `param NAME = ...` line replaced by `param NAME = value`.
fn gpt2_tiny_with(name: &str, value: &str) -> String {
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
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

// ---------------------------------------------------------------------------------------
// Hostile input: exit 1 with a coded diagnostic, never a panic
// ---------------------------------------------------------------------------------------

#[test]
fn random_bytes_64k() {
    let dir = TempDir::new("random");
    let bytes = XorShift(0x9E37_79B9_7F4A_7C15).bytes(64 * 1024);
    let f = dir.file("random.arch", &bytes);
    assert_diagnosed(&check(&f), None);
}

#[test]
fn random_printable_ascii_64k() {
    // Valid UTF-8, so it gets past decoding into the parser.
    let dir = TempDir::new("random-ascii");
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    let text: Vec<u8> = rng
        .bytes(64 * 1024)
        .into_iter()
        .map(|b| if b % 16 == 0 { b'\n' } else { b' ' + b % 95 })
        .collect();
    let f = dir.file("random.arch", &text);
    assert_diagnosed(&check(&f), None);
}

#[test]
fn random_tokens_64k() {
    // Random sequences of the language's own tokens: deeper into parse and resolve.
    const TOKENS: &[&str] = &[
        "model",
        "param",
        "block",
        "stem",
        "trunk",
        "head",
        "layer",
        "let",
        "loop",
        "mask",
        "scale",
        "d",
        "x",
        "=",
        ":",
        ",",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "+",
        "*",
        "/",
        "-",
        "..",
        "->",
        "1",
        "0",
        "64",
        "1e-5",
        "\n",
        "width",
        "blocks",
        "tokens",
        "text",
        "trunk.out",
        "#[allow(unused_stem)]",
    ];
    let dir = TempDir::new("random-tokens");
    let mut rng = XorShift(42);
    let mut s = String::new();
    while s.len() < 64 * 1024 {
        s.push_str(TOKENS[(rng.next() % TOKENS.len() as u64) as usize]);
        s.push(' ');
    }
    let f = dir.file("tokens.arch", s);
    assert_diagnosed(&check(&f), None);
}

#[test]
fn invalid_utf8() {
    let dir = TempDir::new("utf8");
    let f = dir.file("bad.arch", b"param d = 64\nparam \xff\xfe = 1\n");
    assert_diagnosed(&check(&f), Some("A0002"));
    // Also in JSON, and through `fmt`.
    let o = archc([
        Path::new("check"),
        Path::new("--format"),
        Path::new("json"),
        &f,
    ]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("A0002"), "{}", stdout(&o));
    let o = archc([Path::new("fmt"), Path::new("--check"), &f]);
    assert_diagnosed(&o, Some("A0002"));
}

fn nested(open: char) {
    let dir = TempDir::new("nested");
    let mut s = String::from("param a = ");
    s.extend(std::iter::repeat_n(open, 200_000));
    s.push('\n');
    let f = dir.file("nested.arch", &s);
    assert_diagnosed(&check(&f), Some("A0003"));
    // `fmt` parses too: it must refuse the same way, not overflow the stack.
    assert_diagnosed(
        &archc([Path::new("fmt"), Path::new("--check"), &f]),
        Some("A0003"),
    );
}

#[test]
fn nested_braces_200k() {
    nested('{');
}

#[test]
fn nested_parens_200k() {
    nested('(');
}

#[test]
fn nested_brackets_200k() {
    nested('[');
}

#[test]
fn nested_and_closed_200k() {
    // Balanced this time: `((((...1...))))`.
    let dir = TempDir::new("nested-closed");
    let s = format!(
        "param a = {}1{}\n",
        "(".repeat(200_000),
        ")".repeat(200_000)
    );
    let f = dir.file("nested.arch", &s);
    assert_diagnosed(&check(&f), Some("A0003"));
}

#[test]
fn number_5000_digits() {
    let dir = TempDir::new("bignum");
    let f = dir.file("big.arch", format!("param a = {}\n", "9".repeat(5000)));
    assert_diagnosed(&check(&f), Some("A0004"));
    let f = dir.file(
        "bigf.arch",
        format!("param a = 1.{}e99999\n", "9".repeat(5000)),
    );
    assert_diagnosed(&check(&f), Some("A0004"));
}

#[test]
fn identifier_1mb_is_refused() {
    // Names are at most 256 bytes (A0005): a 1 MB name, defined or used, is exit 1 with a
    // diagnostic, quickly (no quadratic work on the name, no megabytes of output).
    let dir = TempDir::new("ident");
    let name = "a".repeat(1 << 20);
    let f = dir.file("def.arch", format!("param {name} = 1\n"));
    assert_diagnosed(&check(&f), Some("A0005"));
    let f = dir.file("use.arch", format!("param b = {name} + 1\n"));
    assert_diagnosed(&check(&f), Some("A0005"));
}

#[test]
fn identifier_1mb_unknown_reference() {
    // An unknown 1 MB name near another 1 MB name: refused as too long (A0005) before any
    // did-you-mean could compare them.
    let dir = TempDir::new("ident-ref");
    let defined = "a".repeat(1 << 20);
    let used = format!("{}b", "a".repeat((1 << 20) - 1));
    let f = dir.file(
        "ref.arch",
        format!("param {defined} = 1\nparam b = {used}\n"),
    );
    assert_diagnosed(&check(&f), Some("A0005"));
    let f = dir.file("ref2.arch", format!("param b = {used}\n"));
    assert_diagnosed(&check(&f), Some("A0005"));
}

#[test]
fn division_by_zero() {
    let dir = TempDir::new("div0");
    for (i, e) in [
        "1 / 0",
        "1 % 0",
        "ceil_div(1, 0)",
        "1.0 / 0.0",
        "d / (d - d)",
    ]
    .iter()
    .enumerate()
    {
        let f = dir.file(
            &format!("div{i}.arch"),
            format!("param d = 4\nparam a = {e}\n"),
        );
        assert_diagnosed(&check(&f), Some("A0202"));
    }
}

#[test]
fn integer_overflow() {
    let dir = TempDir::new("overflow");
    for (i, e) in [
        "9223372036854775807 + 1",
        "(-9223372036854775807 - 1) / -1",
        "-(-9223372036854775807 - 1)",
        "3037000500 * 3037000500",
    ]
    .iter()
    .enumerate()
    {
        let f = dir.file(&format!("of{i}.arch"), format!("param a = {e}\n"));
        assert_diagnosed(&check(&f), Some("A0201"));
    }
}

#[test]
fn negative_and_zero_sizes() {
    let dir = TempDir::new("sizes");
    for (i, (param, value)) in [
        ("d", "0"),
        ("d", "-64"),
        ("heads", "0"),
        ("heads", "-4"),
        ("layers", "0"),
        ("layers", "-2"),
        ("vocab", "0"),
        ("vocab", "-1"),
        ("ctx", "0"),
    ]
    .iter()
    .enumerate()
    {
        let f = dir.file(&format!("size{i}.arch"), gpt2_tiny_with(param, value));
        let o = check(&f);
        assert_diagnosed(&o, None);
        // The diagnostic is about the size (A0204: must be positive), not a crash elsewhere.
        assert!(
            codes(&stderr(&o)).iter().any(|c| c == "A0204"),
            "`{param} = {value}`: expected A0204, got {:?}\n{}",
            codes(&stderr(&o)),
            excerpt(&stderr(&o))
        );
    }
}

#[test]
fn empty_file_is_not_yet_a_model() {
    // An empty file (or one of only whitespace and comments) has no stem and no head: every
    // command would refuse it later (nothing to draw, run or train), so `check` refuses it
    // with A0112. `fmt` still formats it.
    let dir = TempDir::new("empty");
    for (name, text, canonical) in [
        ("empty.arch", "", true),
        ("blank.arch", "\n\n   \n\t\n", false), // `fmt` trims it to nothing
        ("comments.arch", "// nothing here\n// at all\n", true),
    ] {
        let f = dir.file(name, text);
        assert_diagnosed(&check(&f), Some("A0112"));
        let o = archc([
            Path::new("check"),
            Path::new("--format"),
            Path::new("json"),
            &f,
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(v[0]["code"], "A0112", "{name}: {v:#}");
        // Every command that reads a model gives the same coded refusal.
        for cmd in ["build", "run", "train", "gen"] {
            let out = dir.path().join(format!("{name}-{cmd}"));
            let args: Vec<&std::ffi::OsStr> = match cmd {
                "gen" => vec![
                    "gen".as_ref(),
                    "torch".as_ref(),
                    f.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                ],
                "run" => vec!["run".as_ref(), f.as_os_str()],
                _ => vec![cmd.as_ref(), f.as_os_str(), "-o".as_ref(), out.as_os_str()],
            };
            assert_diagnosed(&archc(args), Some("A0112"));
        }
        // `fmt --check`: only the whitespace-only file is not canonical; `fmt` then
        // makes it so.
        let o = archc([Path::new("fmt"), Path::new("--check"), &f]);
        assert_no_panic(&o);
        assert_eq!(
            o.status.code(),
            Some(if canonical { 0 } else { 1 }),
            "{name}"
        );
        assert_clean(&archc([Path::new("fmt"), &f]));
        assert_clean(&archc([Path::new("fmt"), Path::new("--check"), &f]));
        if canonical {
            assert_eq!(
                std::fs::read_to_string(&f).unwrap(),
                text,
                "{name}: fmt changed it"
            );
        }
    }
}

#[test]
fn plus_operators_100k() {
    let dir = TempDir::new("plus");
    let mut s = String::from("param a = 1");
    for _ in 0..100_000 {
        s.push_str(" + 1");
    }
    s.push('\n');
    let f = dir.file("plus.arch", &s);
    assert_diagnosed(&check(&f), Some("A0003"));
    // Prefix minus signs count too.
    let f = dir.file(
        "minus.arch",
        format!("param a = {}1\n", "-".repeat(100_000)),
    );
    assert_diagnosed(&check(&f), Some("A0003"));
}

#[test]
fn many_syntax_errors_are_capped() {
    // 100,000 broken items: the report stays bounded and the run finishes.
    let dir = TempDir::new("many-errors");
    let f = dir.file("errs.arch", "param = \n".repeat(100_000));
    let o = check(&f);
    assert_diagnosed(&o, None);
    assert!(
        codes(&stderr(&o)).len() <= 100,
        "{} codes",
        codes(&stderr(&o)).len()
    );
}

// ---------------------------------------------------------------------------------------
// Usage and IO errors: exit 2
// ---------------------------------------------------------------------------------------

#[test]
fn missing_file_exits_2() {
    let dir = TempDir::new("missing");
    let o = check(&dir.path().join("does-not-exist.arch"));
    assert_usage_error(&o);
    assert!(stderr(&o).contains("does-not-exist.arch"), "{}", stderr(&o));
    // IO errors win over diagnostics in the exit code, and the other files are still checked.
    let bad = dir.file("bad.arch", "param a = 1 / 0\n");
    let o = archc([
        Path::new("check"),
        &bad,
        &dir.path().join("does-not-exist.arch"),
    ]);
    assert_usage_error(&o);
    assert!(
        codes(&stderr(&o)).contains(&"A0202".to_string()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn directory_exits_2() {
    let dir = TempDir::new("dir");
    assert_usage_error(&check(dir.path()));
    assert_usage_error(&archc([Path::new("fmt"), dir.path()]));
}

#[test]
fn unknown_explain_code_exits_2() {
    // (Lower case is accepted on purpose: `archc explain a0701` is A0701's page.)
    for code in ["A9999", "B0001", "", "A07011", "A0701x", "A0000"] {
        let o = archc(["explain", code]);
        assert_usage_error(&o);
        assert!(o.stdout.is_empty(), "`explain {code}` printed to stdout");
    }
}

#[test]
fn no_files_is_a_usage_error() {
    let o = archc(["check"]);
    assert_usage_error(&o);
}

// ---------------------------------------------------------------------------------------
// The happy paths
// ---------------------------------------------------------------------------------------

#[test]
fn every_model_checks_clean_in_one_call() {
    let mut args = vec![PathBuf::from("check")];
    args.extend(model_files());
    let o = archc(&args);
    assert_clean(&o);
    // Warnings are allowed (A0702 for the documented latent-sharing baselines), errors not.
    assert!(
        !stderr(&o).contains('×'),
        "an error was printed:\n{}",
        excerpt(&stderr(&o))
    );
}

#[test]
fn every_model_checks_clean_with_smoke() {
    for f in model_files() {
        let o = archc([Path::new("check"), Path::new("--smoke"), &f]);
        assert_clean(&o);
    }
}

#[test]
fn explain_a0701() {
    let o = archc(["explain", "A0701"]);
    assert_clean(&o);
    let page = stdout(&o);
    assert!(page.contains("A0701"), "{page}");
    assert!(page.contains("output latent"), "{page}");
    assert!(page.lines().count() > 3, "the page is too short:\n{page}");
    // Codes are case-insensitive.
    let lower = archc(["explain", "a0701"]);
    assert_clean(&lower);
    assert_eq!(lower.stdout, o.stdout);
}

/// gpt2-tiny with its layout broken (spacing, alignment) but the same meaning.
fn unformatted_gpt2_tiny() -> String {
    gpt2_tiny()
        .replace("param d      = 64", "param   d=64")
        .replace("  width:     width", "      width :width")
        .replace(
            "stem text: tokens(vocab = vocab, max_len = ctx) {",
            "stem text:tokens( vocab=vocab,max_len=ctx ){",
        )
        .replace("}\n\nhead", "}\nhead")
}

#[test]
fn fmt_check_on_unformatted_file_exits_1_and_leaves_it() {
    let dir = TempDir::new("fmt-check");
    let text = unformatted_gpt2_tiny();
    let f = dir.file("model.arch", &text);
    assert_clean(&check(&f)); // the file is valid, just not canonical
    let o = archc([Path::new("fmt"), Path::new("--check"), &f]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("not formatted"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        text,
        "fmt --check modified the file"
    );
    // No temp file left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn fmt_then_fmt_check_exits_0_and_still_checks() {
    let dir = TempDir::new("fmt");
    let f = dir.file("model.arch", unformatted_gpt2_tiny());
    let o = archc([Path::new("fmt"), &f]);
    assert_clean(&o);
    let formatted = std::fs::read_to_string(&f).unwrap();
    assert_ne!(formatted, unformatted_gpt2_tiny(), "fmt changed nothing");
    assert_clean(&archc([Path::new("fmt"), Path::new("--check"), &f]));
    assert_clean(&check(&f));
    // Idempotent: a second `fmt` leaves the text as it is.
    assert_clean(&archc([Path::new("fmt"), &f]));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), formatted);
}

#[test]
fn bundled_models_are_formatted() {
    let mut args = vec![PathBuf::from("fmt"), PathBuf::from("--check")];
    args.extend(model_files());
    let o = archc(&args);
    assert_clean(&o);
}

#[test]
fn fmt_on_syntax_error_exits_1_and_leaves_file() {
    let dir = TempDir::new("fmt-err");
    let text = "param a = (1 +\n";
    let f = dir.file("bad.arch", text);
    let o = archc([Path::new("fmt"), &f]);
    assert_diagnosed(&o, None);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
}

#[test]
fn json_format_is_parseable() {
    let dir = TempDir::new("json");
    let bad = dir.file("bad.arch", "param d = 4\nparam a = d / 0\nparam b = nope\n");
    let o = archc([
        Path::new("check"),
        Path::new("--format"),
        Path::new("json"),
        &bad,
    ]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(&o)));
    let diags = v.as_array().expect("a JSON array of diagnostics");
    assert!(diags.len() >= 2, "{v:#}");
    for d in diags {
        let code = d["code"].as_str().expect("code is a string");
        assert_eq!(codes(code), vec![code.to_string()], "bad code {code:?}");
        let sev = d["severity"].as_str().expect("severity is a string");
        assert!(
            ["error", "warning", "advice"].contains(&sev),
            "severity {sev:?}"
        );
        let labels = d["labels"].as_array().expect("labels is an array");
        assert!(!labels.is_empty(), "no labels: {d:#}");
        for l in labels {
            assert!(l["line"].as_u64().is_some_and(|n| n >= 1), "{l:#}");
            assert!(l["column"].as_u64().is_some_and(|n| n >= 1), "{l:#}");
            assert!(l["offset"].as_u64().is_some(), "{l:#}");
        }
        assert!(
            d["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{d:#}"
        );
    }
    let found: Vec<&str> = diags.iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(found.contains(&"A0202"), "{found:?}");
    assert!(found.contains(&"A0101"), "{found:?}");

    // Several files: one JSON document holding all of them, naming each file.
    let mut args = vec![
        PathBuf::from("check"),
        PathBuf::from("--format"),
        PathBuf::from("json"),
        bad.clone(),
    ];
    args.extend(model_files());
    let o = archc(&args);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(
        v.as_array().unwrap().iter().all(|d| d["file"].is_string()),
        "{v:#}"
    );
}

#[test]
fn json_format_for_hostile_input() {
    // The JSON renderer sees the same inputs as the human one: spans at the end of the
    // file, huge lines, invalid UTF-8.
    let dir = TempDir::new("json-hostile");
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("random.arch", XorShift(7).bytes(64 * 1024)),
        (
            "nested.arch",
            format!("param a = {}", "{".repeat(200_000)).into_bytes(),
        ),
        ("unterminated.arch", b"param a = (1 +".to_vec()),
        (
            "bignum.arch",
            format!("param a = {}", "1".repeat(5000)).into_bytes(),
        ),
    ];
    for (name, bytes) in inputs {
        let f = dir.file(name, bytes);
        let o = archc([
            Path::new("check"),
            Path::new("--format"),
            Path::new("json"),
            &f,
        ]);
        assert_no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", excerpt(&stderr(&o)));
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{name}: not JSON ({e})"));
        let diags = v.as_array().expect("array");
        assert!(!diags.is_empty(), "{name}: no diagnostics");
        assert!(diags.iter().all(|d| d["code"].is_string()), "{name}: {v:#}");
    }
}

#[test]
fn every_emitted_form_is_json() {
    // `--emit ast|graph|ir` all print JSON (the graph with node indices, spans, heads and
    // the items' output nodes), so a script can read any of them.
    let tiny = models_dir().join("gpt2-tiny.arch");
    for form in ["ast", "graph", "ir"] {
        let o = archc([
            Path::new("check"),
            Path::new("--emit"),
            Path::new(form),
            &tiny,
        ]);
        assert_clean(&o);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("--emit {form} is not JSON ({e}):\n{}", stdout(&o)));
        match form {
            "ast" => assert!(
                v["items"].as_array().is_some_and(|i| !i.is_empty()),
                "{v:#}"
            ),
            "graph" => {
                let nodes = v["nodes"].as_array().expect("nodes");
                assert!(nodes.iter().any(|n| n["path"] == "trunk.blocks.1"), "{v:#}");
                assert!(nodes.iter().all(|n| n["span"]["lo"].is_u64()), "{v:#}");
                let lm = &v["heads"][0];
                assert_eq!(lm["name"], "lm");
                // The head's output latent is the node entering its projection: lm.norm.
                let latent = lm["latent"].as_u64().expect("latent index");
                let node = nodes
                    .iter()
                    .find(|n| n["index"] == latent)
                    .expect("latent node");
                assert_eq!(node["path"], "lm.norm");
            }
            _ => assert_eq!(v["model"], "gpt2_tiny"),
        }
    }
}

#[test]
fn an_edited_ir_is_checked_by_every_command_that_reads_it() {
    // The edits of gpt2-tiny's ir.yaml: each made `build` exit 0 and then `run` and
    // `train` panic. Every command now reads an IR through the checks a .arch file gets,
    // with the diagnostic located in the YAML.
    let dir = TempDir::new("ir-edits");
    let built = dir.path().join("b");
    let o = archc([
        Path::new("build"),
        &models_dir().join("gpt2-tiny.arch"),
        Path::new("-o"),
        &built,
        Path::new("--no-svg"),
    ]);
    assert_clean(&o);
    let ir = std::fs::read_to_string(built.join("ir.yaml")).expect("ir.yaml");
    assert_clean(&check(&built.join("ir.yaml")));
    for (name, from, to, code) in [
        ("heads0", "heads: 4\n", "heads: 0\n", "A0204"),
        ("heads3", "heads: 4\n", "heads: 3\n", "A0303"),
        (
            "vocab",
            "vocab: 256\n",
            "vocab: 1000000000000000\n",
            "A0801",
        ),
        ("width", "  width: 64\n", "  width: 32\n", "A0008"),
    ] {
        let edited = ir.replacen(from, to, 1);
        assert_ne!(edited, ir, "{name}: the edit applies");
        let f = dir.file(&format!("{name}.yaml"), &edited);
        for cmd in ["check", "build", "run", "train", "gen"] {
            let out = dir.path().join(format!("{name}-{cmd}"));
            let args: Vec<&std::ffi::OsStr> = match cmd {
                "check" | "run" => vec![cmd.as_ref(), f.as_os_str()],
                "gen" => vec![
                    "gen".as_ref(),
                    "torch".as_ref(),
                    f.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                ],
                _ => vec![cmd.as_ref(), f.as_os_str(), "-o".as_ref(), out.as_os_str()],
            };
            let o = archc(args);
            assert_diagnosed(&o, Some(code));
            assert!(
                stderr(&o).contains(&format!("{name}.yaml:")),
                "{name} {cmd}: not located in the YAML:\n{}",
                stderr(&o)
            );
        }
    }
}
