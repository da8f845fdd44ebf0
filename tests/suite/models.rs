//! Acceptance for models/: every file checks; the seeds' designs and the published
//! architectures that need no allow check with no warning;
//! the baselines (Chameleon, Janus-Pro, COCONUT) are refused without their allow and
//! pass with it, warned; every model's smoke scale checks; the IR is deterministic.

use crate::common::{check_clean, read};
use archc::diag::Severity;
use archc::CheckOptions;

/// Models that check with no diagnostic at all: the seeds' designs and the published
/// architectures that need no allow.
const CLEAN: &[&str] = &[
    "models/gpt-bert.arch",
    "models/gpt2-small.arch",
    "models/gpt2-tiny.arch",
    "models/llama2-7b.arch",
    "models/multi-layer-heads.arch",
    "models/perfect-vlm.arch",
    "models/perfect-vlm-tiny.arch",
    "models/perfect-vlm-multires.arch",
    "models/perfect-vlm-no-denoise.arch",
    "models/huginn-3.5b.arch",
    "models/latent-loop.arch",
    "models/mae.arch",
    "models/meap.arch",
    "models/var.arch",
];
const BASELINES: &[&str] = &[
    "models/chameleon-7b.arch",
    "models/janus-pro-1b.arch",
    "models/coconut-gpt2.arch",
];

fn all_models() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(crate::common::root().join("models"))
        .expect("models/")
        .filter_map(Result::ok)
        .map(|e| format!("models/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".arch"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_model_is_listed_here() {
    let mut listed: Vec<String> = CLEAN
        .iter()
        .chain(BASELINES)
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(
        all_models(),
        listed,
        "classify new models as seed designs or baselines"
    );
}

#[test]
fn clean_models_check_without_any_diagnostic() {
    for m in CLEAN {
        let c = check_clean(m, &CheckOptions::default());
        let codes: Vec<&str> = c
            .diagnostics
            .iter()
            .map(|d| d.error.code().as_str())
            .collect();
        assert!(codes.is_empty(), "{m}: {codes:?}");
    }
}

#[test]
fn baselines_pass_only_through_their_allow_and_are_warned() {
    for m in BASELINES {
        let c = check_clean(m, &CheckOptions::default());
        let warned: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.error.code() == "A0702" && d.severity == Severity::Warning)
            .collect();
        assert!(!warned.is_empty(), "{m}: no A0702 warning naming the allow");
        assert_eq!(
            warned.len(),
            c.diagnostics.len(),
            "{m}: other diagnostics too"
        );
        // The allow is recorded in the checked graph.
        let g = c.graph.expect("graph");
        assert!(
            g.lints
                .iter()
                .any(|l| l.lint.name() == "output_latent_sharing"),
            "{m}: allow not recorded"
        );
        // Without it: refused with A0701.
        let src = read(m)
            .replace("#![allow(output_latent_sharing)]", "")
            .replace("#[allow(output_latent_sharing)]", "");
        let refused = archc::check_source(&src, &CheckOptions::default());
        assert!(refused.has_errors(), "{m}: passes without its allow");
        assert!(
            refused
                .diagnostics
                .iter()
                .all(|d| d.error.code() == "A0701"),
            "{m}: {:?}",
            refused.diagnostics
        );
    }
}

#[test]
fn every_model_has_a_smoke_scale_that_checks() {
    for m in all_models() {
        let opts = CheckOptions {
            resolve: archc::resolve::Options {
                scale: Some("smoke".into()),
                overrides: vec![],
            },
            ..Default::default()
        };
        let c = check_clean(&m, &opts);
        let total = archc::analyze::count_params(c.graph.as_ref().expect("graph")).total;
        assert!(
            total < 5_000_000,
            "{m}: smoke scale still has {total} parameters"
        );
    }
}

#[test]
fn set_overrides_shrink_a_model() {
    let opts = CheckOptions {
        resolve: archc::resolve::Options {
            scale: None,
            overrides: vec![
                ("d".into(), "64".into()),
                ("layers".into(), "2".into()),
                ("heads".into(), "4".into()),
            ],
        },
        ..Default::default()
    };
    let c = check_clean("models/gpt2-small.arch", &opts);
    let g = c.graph.expect("graph");
    // 50257*64 + 1024*64 + 2 blocks of (2*128 + 4*(64*64+64) + 2*(64*256) + 256 + 64) + ln_f 128
    let block = 2 * 128 + 4 * (64 * 64 + 64) + 64 * 256 + 256 + 256 * 64 + 64;
    assert_eq!(
        archc::analyze::count_params(&g).total,
        50257 * 64 + 1024 * 64 + 2 * block + 128
    );
}

#[test]
fn ir_is_deterministic_and_round_trips() {
    for m in all_models() {
        let a = check_clean(&m, &CheckOptions::default());
        let b = check_clean(&m, &CheckOptions::default());
        let ja = serde_json::to_string(&archc::graph_to_ir(a.graph.as_ref().unwrap())).unwrap();
        let jb = serde_json::to_string(&archc::graph_to_ir(b.graph.as_ref().unwrap())).unwrap();
        assert_eq!(ja, jb, "{m}: IR differs between two runs");
        let back: archc::ir::Ir = serde_json::from_str(&ja).expect("IR reads back");
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            ja,
            "{m}: IR does not round-trip"
        );
    }
}

#[test]
fn models_are_in_canonical_layout() {
    for m in all_models() {
        let src = read(&m);
        let (ast, errors) = archc::source_to_ast(&src);
        assert!(errors.is_empty());
        assert_eq!(
            archc::fmt::ast_to_source(&ast, &src),
            src,
            "{m}: run `archc fmt {m}`"
        );
    }
}

/// Every model's IR, at full size and at its smoke scale, reads back through the same
/// checks as its `.arch` file (`archc::check_ir`): clean, with the warnings the file has,
/// and the graph it rebuilds writes the same document again, byte for byte.
#[test]
fn every_model_ir_checks_clean_and_rebuilds_byte_for_byte() {
    for m in all_models() {
        let src = read(&m);
        let has_smoke = src.contains("scale smoke");
        for scale in [None, Some("smoke")]
            .into_iter()
            .filter(|s| s.is_none() || has_smoke)
        {
            let mut opts = CheckOptions::default();
            opts.resolve.scale = scale.map(str::to_string);
            let c = check_clean(&m, &opts);
            let yaml = archc::ir::ir_to_yaml(&archc::graph_to_ir(c.graph.as_ref().unwrap()));
            let back = archc::check_ir(&yaml, &CheckOptions::default());
            assert!(
                !back.has_errors(),
                "{m} ({scale:?}): its IR does not check:\n{}",
                crate::common::render_all(&back.diagnostics, "ir.yaml", yaml.as_bytes())
            );
            let codes = |c: &archc::Checked| {
                let mut v: Vec<&str> = c
                    .diagnostics
                    .iter()
                    .map(|d| d.error.code().as_str())
                    .collect();
                v.sort();
                v
            };
            assert_eq!(codes(&back), codes(&c), "{m} ({scale:?}): other warnings");
            let again = archc::ir::ir_to_yaml(&archc::graph_to_ir(back.graph.as_ref().unwrap()));
            assert_eq!(
                again, yaml,
                "{m} ({scale:?}): the IR is not written back the same"
            );
        }
    }
}

/// The fast YAML writer (`ir_to_yaml`) writes a document that serde_norway reads back to
/// the same IR, and it is a fixed point. (It quotes a few words serde_norway leaves bare,
/// such as a key `n`, which YAML 1.1 readers take for a boolean.)
#[test]
fn ir_yaml_reads_back_to_the_same_ir() {
    for m in all_models() {
        let c = check_clean(&m, &CheckOptions::default());
        let ir = archc::graph_to_ir(c.graph.as_ref().unwrap());
        let ours = archc::ir::ir_to_yaml(&ir);
        let back = archc::ir::yaml_to_ir(&ours).expect("reads back");
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&ir).unwrap(),
            "{m}: another IR read back"
        );
        assert_eq!(archc::ir::ir_to_yaml(&back), ours, "{m}: not a fixed point");
        // Same document as serde_norway's, up to quoting.
        let unquote = |s: &str| s.replace('"', "");
        assert_eq!(
            unquote(&ours),
            unquote(&serde_norway::to_string(&ir).unwrap()),
            "{m}"
        );
    }
}
