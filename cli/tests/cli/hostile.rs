//! Hostile input: exit 1 with a coded diagnostic, never a panic.

use crate::common::*;

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
