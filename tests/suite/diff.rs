//! `archc::diff::graphs_to_diff`: items matched by name, nodes by path, exact deltas.

use crate::common::check_clean;
use archc::analyze::Workload;
use archc::diff::{graphs_to_diff, Diff, Status};
use archc::graph::ArchGraph;
use archc::model::Region;

fn graph(rel: &str, overrides: &[(&str, &str)]) -> ArchGraph {
    let mut opts = archc::CheckOptions::default();
    opts.resolve.overrides = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    check_clean(rel, &opts)
        .graph
        .expect("a clean file has a graph")
}

fn diff(a: &ArchGraph, b: &ArchGraph) -> Diff {
    graphs_to_diff(a, b, Workload::default_for(a))
}

fn item<'d>(d: &'d Diff, name: &str) -> &'d archc::diff::ItemDiff {
    d.items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no item `{name}` in the diff"))
}

/// GPT-2 small and the same with a 13th layer: one block added, nothing else changed.
#[test]
fn gpt2_with_one_more_layer_adds_exactly_one_block() {
    let a = graph("models/gpt2-small.arch", &[]);
    let b = graph("models/gpt2-small.arch", &[("layers", "13")]);
    let d = diff(&a, &b);
    assert!(!d.equal);
    // One GPT-2 block at d = 768 (HF GPT2Block):
    //   ln_1            2 * 768               =     1,536
    //   attn.c_attn     768 * 2304 + 2304     = 1,771,776
    //   attn.c_proj     768 * 768 + 768       =   590,592
    //   ln_2            2 * 768               =     1,536
    //   mlp.c_fc        768 * 3072 + 3072     = 2,362,368
    //   mlp.c_proj      3072 * 768 + 768      = 2,360,064
    //   total           12 * 768^2 + 13 * 768 = 7,087,872
    const BLOCK: i128 = 12 * 768 * 768 + 13 * 768;
    assert_eq!(BLOCK, 7_087_872);
    let changed: Vec<_> = d
        .items
        .iter()
        .filter(|i| i.status != Status::Same)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:#?}");
    let trunk = changed[0];
    assert_eq!(
        (trunk.item.as_str(), trunk.status),
        ("trunk", Status::Changed)
    );
    assert_eq!(trunk.nodes.len(), 1, "{:#?}", trunk.nodes);
    let added = &trunk.nodes[0];
    assert_eq!(added.path, "trunk.blocks.12");
    assert_eq!(added.status, Status::Added);
    assert_eq!(added.what, "block gpt2");
    assert_eq!(added.params.delta, BLOCK);
    assert_eq!(trunk.params.delta, BLOCK);
    assert_eq!(d.total_params.delta, BLOCK);
    assert_eq!(d.total_params.new, 124_439_808 + 7_087_872);
    assert!(added.flops_forward.delta > 0);
    assert_eq!(d.total_flops_forward.delta, added.flops_forward.delta);
    // The only other difference is the hyper-parameter itself.
    assert_eq!(d.params.len(), 1, "{:?}", d.params);
    assert_eq!(d.params[0].name, "layers");
    assert_eq!(d.params[0].old, Some(archc::eval::Value::Int(12)));
    assert_eq!(d.params[0].new, Some(archc::eval::Value::Int(13)));
    assert!(d.loops.is_empty() && d.masks.is_empty() && d.lints.is_empty());
    for i in d.items.iter().filter(|i| i.name != "trunk") {
        assert_eq!(
            (i.params.delta, i.flops_forward.delta),
            (0, 0),
            "{}",
            i.name
        );
    }
}

/// The Janus-Pro baseline against the perfect VLM: the heads gain blocks, the image span
/// turns bidirectional, the allow disappears.
#[test]
fn janus_pro_to_perfect_vlm() {
    let a = graph("models/janus-pro-1b.arch", &[]);
    let b = graph("models/perfect-vlm.arch", &[]);
    let d = diff(&a, &b);
    assert!(!d.equal);
    // `name` gains exactly the nodes in `added` (its block first), all of them new:
    // nothing in it is removed or rewired, inputs being compared looking through added
    // nodes.
    let gains = |name: &str, added: &[&str]| {
        let i = item(&d, name);
        assert_eq!(i.status, Status::Changed, "{name}");
        let got: Vec<(&str, Status)> = i
            .nodes
            .iter()
            .map(|n| (n.path.as_str(), n.status))
            .collect();
        let want: Vec<(String, Status)> = added
            .iter()
            .map(|p| (format!("{name}.{p}"), Status::Added))
            .collect();
        let want: Vec<(&str, Status)> = want.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        assert_eq!(got, want, "{name}");
        let n = &i.nodes[0];
        assert_eq!(n.what.as_str(), "block llama");
        assert!(n.params.delta > 0);
        n.params.delta
    };
    let block = |name: &str| gains(name, &["blocks.0"]);
    // Janus-Pro's heads share the trunk's final norm; the perfect VLM's heads each own a
    // block and a norm after it (and the trunk's norm goes: checked below).
    let head = |name: &str| gains(name, &["blocks.0", "norm"]);
    // The text head `lm` and the image-generation head `gen` each gain one block.
    let per_block = head("lm");
    assert_eq!(head("gen"), per_block);
    // And so do the stems; the trunk gives up two blocks (24 = 1 + 22 + 1).
    for stem in ["text", "image", "vq"] {
        assert_eq!(block(stem), per_block);
    }
    let trunk = item(&d, "trunk");
    let removed: Vec<_> = trunk
        .nodes
        .iter()
        .filter(|n| n.what == "block llama")
        .map(|n| (n.path.as_str(), n.status))
        .collect();
    assert_eq!(
        removed,
        [
            ("trunk.blocks.22", Status::Removed),
            ("trunk.blocks.23", Status::Removed)
        ]
    );
    assert!(trunk
        .nodes
        .iter()
        .any(|n| n.path == "trunk.norm" && n.status == Status::Removed));
    assert_eq!(item(&d, "siglip").status, Status::Added);
    // The SigLIP image span turns bidirectional.
    assert!(
        d.masks.iter().any(|m| m.modality == "image"
            && m.status == Status::Added
            && m.new == Some(Region::Bidirectional)),
        "{:#?}",
        d.masks
    );
    // The allow on `gen` disappears.
    assert!(
        d.lints.iter().any(|l| l.lint == "output_latent_sharing"
            && l.item.as_deref() == Some("gen")
            && l.status == Status::Removed),
        "{:#?}",
        d.lints
    );
    assert!(d.loops.is_empty());
    assert_eq!(
        d.total_params.delta,
        d.items.iter().map(|i| i.params.delta).sum::<i128>()
    );
}

#[test]
fn a_file_is_equal_to_itself() {
    for rel in [
        "models/gpt2-small.arch",
        "models/latent-loop.arch",
        "models/perfect-vlm.arch",
    ] {
        let a = graph(rel, &[]);
        let d = diff(&a, &a);
        assert!(d.equal, "{rel}: {d:#?}");
        assert!(d
            .items
            .iter()
            .all(|i| i.status == Status::Same && i.nodes.is_empty()));
        assert_eq!((d.total_params.delta, d.total_flops_forward.delta), (0, 0));
    }
}

/// The IR written to disk and read back is the same model as the file it was built from.
#[test]
fn ir_yaml_equals_the_arch_it_was_built_from() {
    let dir = std::env::temp_dir().join(format!("archc-diff-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for rel in [
        "models/gpt2-small.arch",
        "models/coconut-gpt2.arch",
        "models/janus-pro-1b.arch",
    ] {
        let g = graph(rel, &[]);
        let path = dir.join("ir.yaml");
        std::fs::write(&path, archc::ir::ir_to_yaml(&archc::graph_to_ir(&g))).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let checked = archc::check_ir(&text, &archc::CheckOptions::default());
        assert!(
            !checked.has_errors(),
            "{rel}: {:?}",
            checked.diagnostics.first()
        );
        let back = checked.graph.expect("a checked IR has a graph");
        for d in [diff(&g, &back), diff(&back, &g)] {
            assert!(d.equal, "{rel}: {d:#?}");
            assert_eq!(
                (d.total_params.delta, d.total_flops_forward.delta),
                (0, 0),
                "{rel}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A changed hyper-parameter shows as the leaves it changed, in every block.
#[test]
fn changed_fields_are_listed_by_leaf() {
    let a = graph("models/gpt2-small.arch", &[]);
    let b = graph("models/gpt2-small.arch", &[("heads", "16")]);
    let d = diff(&a, &b);
    let trunk = item(&d, "trunk");
    assert_eq!(trunk.nodes.len(), 12);
    let fields: Vec<String> = trunk.nodes[0]
        .changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.field,
                c.old.clone().unwrap(),
                c.new.clone().unwrap()
            )
        })
        .collect();
    assert!(
        fields.contains(&"attention.heads: 12 -> 16".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"attention.head_dim: 64 -> 48".to_string()),
        "{fields:?}"
    );
    // Same parameter count: heads only split the same matrices differently.
    assert_eq!(d.total_params.delta, 0);
}

/// A loop whose target moves is reported as moved (by node paths).
#[test]
fn a_moved_loop_is_reported() {
    let src = crate::common::read("models/latent-loop.arch");
    let moved = src.replace("trunk.out -> trunk.in", "trunk.out -> text.out");
    assert_ne!(src, moved);
    let a = graph("models/latent-loop.arch", &[]);
    let checked = archc::check_source(&moved, &archc::CheckOptions::default());
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let b = checked.graph.expect("graph");
    let d = diff(&a, &b);
    assert_eq!(d.loops.len(), 1, "{:#?}", d.loops);
    let l = &d.loops[0];
    assert_eq!(l.name, "think");
    assert_eq!(l.old_source, l.new_source);
    assert_eq!(l.old_target.as_deref(), Some("trunk.in"));
    assert_eq!(l.new_target.as_deref(), Some("text.blocks.0"));
    assert_eq!(item(&d, "think").status, Status::Changed);
    // JSON round trip: the diff is plain data.
    let json = serde_json::to_string(&d).expect("serialises");
    let back: Diff = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, d);
}
