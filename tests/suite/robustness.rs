//! Inputs meant to break the front end get diagnostics, not panics or stack overflows,
//! on the default test-thread stack (2 MB), i.e. without the CLI's large stack.

fn codes(src: &str) -> Vec<&'static str> {
    archc::check_source(src, &archc::CheckOptions::default())
        .diagnostics
        .iter()
        .map(|d| d.error.code().as_str())
        .collect()
}

/// The smallest whole model (a stem and a head), to put a chain into.
const MODEL: &str = "stem t: tokens(vocab = 4, max_len = 4) { embed: embedding(dim = 4) }\nhead lm: text(target = t) { from: t, objective: next_token }\n";

#[test]
fn a_parameter_chain_just_under_the_limit_evaluates() {
    let n = archc::resolve::MAX_PARAM_CHAIN - 1;
    let mut src: String = (0..n)
        .map(|i| format!("param p{i} = p{} + 1\n", i + 1))
        .collect();
    src.push_str(&format!("param p{n} = 1\n"));
    src.push_str(MODEL);
    assert_eq!(codes(&src), Vec::<&str>::new());
}

#[test]
fn a_parameter_chain_over_the_limit_is_a_diagnostic() {
    let n = archc::resolve::MAX_PARAM_CHAIN + 1;
    let mut src: String = (0..n)
        .map(|i| format!("param p{i} = p{} + 1\n", i + 1))
        .collect();
    src.push_str(&format!("param p{n} = 1\n"));
    assert_eq!(codes(&src), vec!["A0003"]);
}

#[test]
fn deep_nesting_and_long_expressions_are_diagnostics() {
    assert_eq!(
        codes(&format!(
            "param d = {}1{}",
            "(".repeat(200_000),
            ")".repeat(200_000)
        )),
        vec!["A0003"]
    );
    assert_eq!(
        codes(&format!("block b {{ width: {} }}", "{".repeat(200_000))),
        vec!["A0003"]
    );
    assert_eq!(
        codes(&format!("param d = 1{}", " + 1".repeat(100_000))),
        vec!["A0003"]
    );
    assert_eq!(
        codes(&format!("param d = {}", "9".repeat(5000))),
        vec!["A0004"]
    );
    assert_eq!(codes("param d = 1 / 0"), vec!["A0202"]);
}

#[test]
fn a_long_alias_chain_is_a_diagnostic() {
    let mut src = String::from("stem t: tokens(vocab = 4, max_len = 4) {\n  embed: embedding(dim = 4)\n}\nlet a0 = t.out\n");
    for i in 0..100_000 {
        src.push_str(&format!("let a{} = a{i}\n", i + 1));
    }
    src.push_str("head lm: text(target = t) { from: a100000, objective: next_token }\n");
    // Every alias reads the previous one directly: no recursion, no cycle, no error.
    let c = archc::check_source(&src, &archc::CheckOptions::default());
    assert!(!c.has_errors(), "{:?}", c.diagnostics.first());
}

#[test]
fn a_megabyte_identifier_is_a_diagnostic() {
    let name = "a".repeat(1 << 20);
    assert_eq!(codes(&format!("param {name} = 1\n")), vec!["A0005"]);
}

/// Hand edits of an IR, at random: a value replaced, a line dropped, doubled or swapped.
/// `check_ir` must answer every one with a clean graph or located diagnostics (never a
/// panic), and a clean graph must survive the stages after it.
#[test]
fn random_edits_of_an_ir_are_diagnostics_or_clean() {
    let src = crate::common::read("models/gpt2-tiny.arch");
    let c = archc::check_source(&src, &archc::CheckOptions::default());
    let yaml = archc::ir::ir_to_yaml(&archc::graph_to_ir(c.graph.as_ref().expect("clean")));
    let lines: Vec<&str> = yaml.lines().collect();
    let values = [
        "0",
        "-1",
        "3",
        "65",
        "1e30",
        "0.5",
        "true",
        "x",
        "99999999999999999999",
        "[]",
        "{}",
        "",
        "\"S\"",
        "text",
        "null",
        "~",
        "[1, 2]",
        "{a: 1}",
        "S_text",
        "lm.norm",
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut clean, mut coded) = (0, 0);
    for _ in 0..400 {
        let mut doc: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for _ in 0..1 + next(3) {
            let i = next(doc.len());
            match next(4) {
                0 => {
                    if let Some((k, _)) = doc[i].split_once(": ") {
                        doc[i] = format!("{k}: {}", values[next(values.len())]);
                    }
                }
                1 => {
                    doc.remove(i);
                }
                2 => doc.insert(i, doc[i].clone()),
                _ => {
                    let j = next(doc.len());
                    doc.swap(i, j);
                }
            }
        }
        let text = doc.join("\n");
        let checked = archc::check_ir(&text, &archc::CheckOptions::default());
        for d in &checked.diagnostics {
            let s = d.error.primary_span();
            assert!(s.hi <= text.len(), "{:?} outside the text", d.error);
        }
        if checked.has_errors() {
            coded += 1;
        } else {
            clean += 1;
            let g = checked.graph.as_ref().expect("a clean IR has a graph");
            let _ = archc::analyze::graph_to_summary(g, archc::analyze::Workload::default_for(g));
            let _ = archc::graph::graph_to_plan(g).expect("a checked graph has a plan");
        }
    }
    // Most edits break something; some (a value the layers may take) leave a valid model.
    assert!(coded > 200 && clean > 0, "{coded} refused, {clean} clean");
}
