//! Inputs meant to break the front end get diagnostics, not panics or stack overflows,
//! on the default test-thread stack (2 MB), i.e. without the CLI's large stack.

fn codes(src: &str) -> Vec<&'static str> {
    archc::check_source(src, &archc::CheckOptions::default())
        .diagnostics
        .iter()
        .map(|d| d.error.code())
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
