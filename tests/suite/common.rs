//! Helpers shared by the suite.

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Checks a file (no overrides) and panics with the rendered diagnostics if it has errors.
pub fn check_clean(rel: &str, opts: &archc::CheckOptions) -> archc::Checked {
    let src = read(rel);
    let checked = archc::check_source(&src, opts);
    if checked.has_errors() {
        panic!(
            "{rel} has errors:\n{}",
            render_all(&checked.diagnostics, rel, src.as_bytes())
        );
    }
    checked
}

/// Renders diagnostics without colour at a fixed width, as `archc check` does off a terminal.
pub fn render_all(diags: &[archc::diag::Diagnostic], name: &str, src: &[u8]) -> String {
    let h = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100);
    let shown = archc::render::Shown::new(src);
    let mut out = String::new();
    for d in diags {
        let r = archc::render::report_shown(d, name, &shown);
        h.render_report(&mut out, &r)
            .expect("rendering to a String cannot fail");
        out.push('\n');
    }
    out
}

/// Options from a `// archc: --set d=3 --smoke` first line (UI tests and explain examples).
pub fn header_options(src: &str) -> archc::CheckOptions {
    let mut opts = archc::CheckOptions::default();
    let Some(line) = src.lines().next().and_then(|l| l.strip_prefix("// archc:")) else {
        return opts;
    };
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        match w {
            "--smoke" => opts.resolve.scale = Some("smoke".into()),
            "--scale" => opts.resolve.scale = words.next().map(str::to_string),
            "--set" => {
                let kv = words.next().expect("--set needs NAME=VALUE");
                let (k, v) = kv.split_once('=').expect("--set needs NAME=VALUE");
                opts.resolve.overrides.push((k.to_string(), v.to_string()));
            }
            "--max-params-bytes" => {
                opts.max_param_bytes = words.next().and_then(|n| n.parse().ok()).expect("a number")
            }
            other => panic!("unknown header flag {other}"),
        }
    }
    opts
}

/// `\xNN` escapes in a text become raw bytes (lets a page show invalid UTF-8).
pub fn unescape_bytes(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Checks bytes the way `archc check` does: decode, then check. Returns the bytes the
/// diagnostics point into (the text without a byte-order mark, or the bytes as they are).
pub fn check_bytes(bytes: &[u8], opts: &archc::CheckOptions) -> (Vec<u8>, archc::Checked) {
    match archc::decode(bytes) {
        Ok(src) => (src.as_bytes().to_vec(), archc::check_source(src, opts)),
        Err(d) => (
            bytes.to_vec(),
            archc::Checked {
                diagnostics: vec![d],
                ..Default::default()
            },
        ),
    }
}
