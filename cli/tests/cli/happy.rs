//! The happy paths: every bundled model checks clean, `fmt`, `--format json`.

use crate::common::*;

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
