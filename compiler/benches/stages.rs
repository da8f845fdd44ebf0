//! `cargo bench -p archc --bench stages`: every stage of the compiler, timed on its own,
//! as a file grows in three directions, so that a stage growing faster than the file shows.
//!
//! Shapes of file (each a GPT-2-tiny with N of something added):
//! - "lets": a chain of N aliases `let a0 = trunk.out`, `let a1 = a0`, ... that the head
//!   reads at its end;
//! - "stems": N small feature stems, each with an adapter, merged by the trunk;
//! - "blocks": N distinct block definitions, each used once.
//!
//! Stages: source_to_ast, ast_to_model, model_to_graph, graph_checks (together `check`),
//! graph_to_ir + ir_to_yaml (`build`'s ir.yaml), check_ir (reading the IR back, as every
//! command that takes one does), graph_to_summary (`build`'s table), graph_to_dot
//! (graph.dot) and fmt (ast_to_source). Each is the median of `RUNS` runs after one warm-up.
//!
//! For each stage the table gives the time per 1,000 units at every N (each N 4x the one
//! before) and how the per-unit time grew over the last 4x: a linear stage gives about 1, a
//! quadratic one 4, one growing as n^1.5 gives 2. The sizes reach well past the caches:
//! below that, the stages whose per-node work is hash lookups grow 2-4x in per-unit time as
//! their tables outgrow the caches (perf shows page faults and cache misses, no hot inner
//! loop), and then stay flat. The verdict flags any last-step growth above 2 as not linear.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

const BASE: &str = "model bench

param d      = 64
param layers = 2
param heads  = 4
param vocab  = 256
param ctx    = 128

block gpt2(width = d) {
  width:     width
  norm:      layernorm(bias = true, eps = 1e-5)
  placement: pre
  attention: attention(heads = heads, positions = none, bias = true)
  mlp:       gelu_tanh(hidden = 4 * width, bias = true)
}

stem text: tokens(vocab = vocab, max_len = ctx) {
  embed:     embedding(dim = d)
  positions: learned(max_len = ctx)
}
";

const HEAD: &str = "
head lm: text(target = text) {
  FROM
  norm:       layernorm(bias = true, eps = 1e-5)
  projection: tied(text.embed)
  objective:  next_token
}
";

fn lets(n: usize) -> String {
    let mut s = String::from(BASE);
    s.push_str("\ntrunk {\n  blocks: gpt2 x layers\n}\n\nlet a0 = trunk.out\n");
    for i in 1..n {
        writeln!(s, "let a{i} = a{}", i - 1).unwrap();
    }
    s + &HEAD.replace("FROM", &format!("from: a{}", n - 1))
}

fn stems(n: usize) -> String {
    let mut s = String::from(BASE);
    for i in 0..n {
        writeln!(
            s,
            "stem s{i}: features(dim = 8, rows = 4) {{\n  adapter: mlp(layers = 1, hidden = d, out = d)\n}}"
        )
        .unwrap();
    }
    s.push_str("\ntrunk {\n  blocks: gpt2 x layers\n}\n");
    s + &HEAD.replace("FROM", "")
}

fn blocks(n: usize) -> String {
    let mut s = String::from(BASE);
    for i in 0..n {
        writeln!(
            s,
            "block b{i}(width = d) {{\n  width: width\n  norm: layernorm(bias = true, eps = 1e-5)\n  attention: attention(heads = heads, positions = none, bias = true)\n  mlp: gelu(hidden = 4 * width, bias = true)\n}}"
        )
        .unwrap();
    }
    s.push_str("\ntrunk {\n  blocks: [gpt2 x 1");
    for i in 0..n {
        write!(s, ", b{i} x 1").unwrap();
    }
    s.push_str("]\n}\n");
    s + &HEAD.replace("FROM", "")
}

fn time<R>(mut f: impl FnMut() -> R) -> Duration {
    black_box(f());
    let mut runs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    runs.sort();
    runs[RUNS / 2]
}

/// A shape of file: its name, its generator and the three sizes.
type Shape = (&'static str, fn(usize) -> String, [usize; 3]);

const STAGES: [&str; 9] = [
    "source_to_ast",
    "ast_to_model",
    "model_to_graph",
    "graph_checks",
    "ir_yaml",
    "check_ir",
    "summary",
    "dot",
    "fmt",
];

fn stages(src: &str) -> [Duration; 9] {
    let opts = archc::CheckOptions::default();
    let (ast, errors) = archc::source_to_ast(src);
    assert!(errors.is_empty(), "the generated file parses");
    let (model, errors) = archc::ast_to_model(&ast, &opts.resolve);
    assert!(errors.is_empty(), "the generated file resolves: {errors:?}");
    let (graph, errors) = archc::model_to_graph(&model);
    assert!(errors.is_empty(), "the generated file builds: {errors:?}");
    let checked = archc::check_source(src, &opts);
    assert!(
        !checked.has_errors(),
        "the generated file checks: {:?}",
        checked.diagnostics.first()
    );
    let yaml = archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph));
    assert!(!archc::check_ir(&yaml, &opts).has_errors(), "its IR checks");
    let w = archc::analyze::Workload::default_for(&graph);
    [
        time(|| archc::source_to_ast(src)),
        time(|| archc::ast_to_model(&ast, &opts.resolve)),
        time(|| archc::model_to_graph(&model)),
        time(|| archc::check::graph_checks(&model, &graph, opts.max_param_bytes)),
        time(|| archc::ir::ir_to_yaml(&archc::graph_to_ir(&graph))),
        time(|| archc::check_ir(&yaml, &opts)),
        time(|| archc::analyze::graph_to_summary(&graph, w)),
        time(|| archc::draw::graph_to_dot(&graph)),
        time(|| archc::fmt::ast_to_source(&ast, src)),
    ]
}

/// `ARCHC_BENCH_SCALE=K` multiplies every N by K (e.g. 2 for a second look at growth).
fn sizes(_shape: &str, base: [usize; 3]) -> [usize; 3] {
    let k: usize = std::env::var("ARCHC_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    base.map(|n| n * k)
}

fn main() {
    let shapes: [Shape; 3] = [
        ("lets", lets, sizes("lets", [25_000, 100_000, 400_000])),
        ("stems", stems, sizes("stems", [2_000, 8_000, 32_000])),
        ("blocks", blocks, sizes("blocks", [1_000, 4_000, 16_000])),
    ];
    println!("archc's stages: ms per 1,000 units, median of {RUNS} runs after one warm-up\n");
    let mut worst = (0.0f64, "", "");
    // ARCHC_BENCH_SHAPE=stems runs one shape (for a profiler).
    let only = std::env::var("ARCHC_BENCH_SHAPE").ok();
    for (shape, gen, sizes) in shapes {
        if only.as_deref().is_some_and(|o| o != shape) {
            continue;
        }
        let rows: Vec<[Duration; 9]> = sizes.iter().map(|&n| stages(&gen(n))).collect();
        print!("| {shape:<6} | stage          |");
        for n in sizes {
            print!(" N = {n:>7} |");
        }
        println!(" last 4x |");
        println!(
            "|--------|----------------|{}--------:|",
            "------------:|".repeat(3)
        );
        for (k, stage) in STAGES.iter().enumerate() {
            print!("|        | {stage:<14} |");
            let per: Vec<f64> = sizes
                .iter()
                .zip(&rows)
                .map(|(&n, r)| r[k].as_secs_f64() * 1e3 / n as f64 * 1000.0)
                .collect();
            for p in &per {
                print!(" {p:>11.3} |");
            }
            let ratio = per[2] / per[1];
            println!(" {ratio:>7.2} |");
            if ratio > worst.0 {
                worst = (ratio, shape, stage);
            }
        }
        let total = |r: &[Duration; 9]| r.iter().map(|d| d.as_secs_f64()).sum::<f64>();
        print!("|        | all            |");
        for (&n, r) in sizes.iter().zip(&rows) {
            print!(" {:>11.3} |", total(r) * 1e3 / n as f64 * 1000.0);
        }
        println!(
            " {:>7.2} |\n",
            (total(&rows[2]) / sizes[2] as f64) / (total(&rows[1]) / sizes[1] as f64)
        );
    }
    println!(
        "largest growth of the per-unit time over the last 4x (quadratic: 4, n^1.5: 2): {:.2} ({} / {}) -> {}",
        worst.0,
        worst.1,
        worst.2,
        if worst.0 <= 2.0 {
            "linear"
        } else {
            "NOT linear"
        }
    );
}
