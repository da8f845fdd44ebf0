//! `cargo bench -p archc --bench check`: how `archc::check_source` scales with the
//! number of trunk blocks. No criterion: plain `std::time::Instant`, median of
//! `RUNS` timed runs after `WARMUP` untimed ones.
//!
//! Two shapes of file, each with N trunk blocks:
//! - "distinct": N separate `block` definitions `b0 .. b{N-1}`, each used once
//!   (`blocks: [b0 x 1, b1 x 1, ...]`): stresses parsing and name resolution.
//! - "repeat": one definition used N times (`blocks: blk x N`): stresses the graph.
//!
//! The goal: < 10 ms at 1,000 blocks, < 100 ms at 10,000, and linear growth (the
//! per-block time at N = 10,000 within ~2x of the per-block time at N = 100).
//!
//! `ARCHC_BENCH_STAGES=1` also times each stage separately (source_to_ast,
//! ast_to_model, model_to_graph, graph_checks) to show where the time goes.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const WARMUP: usize = 2;
const RUNS: usize = 11;

const HEADER: &str = "model bench

param d      = 64
param heads  = 4
param vocab  = 256
param ctx    = 128
";

const FOOTER: &str = "
stem text: tokens(vocab = vocab, max_len = ctx) {
  embed:     embedding(dim = d)
  positions: learned(max_len = ctx)
}

head lm: text(target = text) {
  norm:       layernorm(bias = true, eps = 1e-5)
  projection: tied(text.embed)
  objective:  next_token
}
";

fn block_def(out: &mut String, name: &str) {
    writeln!(
        out,
        "
block {name}(width = d) {{
  width:     width
  norm:      layernorm(bias = true, eps = 1e-5)
  placement: pre
  attention: attention(heads = heads, positions = none, bias = true)
  mlp:       gelu(hidden = 4 * width, bias = true)
}}"
    )
    .unwrap();
}

/// N distinct block definitions, each used once in the trunk.
fn distinct(n: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..n {
        block_def(&mut s, &format!("b{i}"));
    }
    s.push_str("\ntrunk {\n  blocks: [");
    for i in 0..n {
        if i > 0 {
            s.push_str(if i % 8 == 0 { ",\n    " } else { ", " });
        }
        write!(s, "b{i} x 1").unwrap();
    }
    s.push_str("]\n}\n");
    s.push_str(FOOTER);
    s
}

/// One block definition repeated N times.
fn repeat(n: usize) -> String {
    let mut s = String::from(HEADER);
    writeln!(s, "param layers = {n}").unwrap();
    block_def(&mut s, "blk");
    s.push_str("\ntrunk {\n  blocks: blk x layers\n}\n");
    s.push_str(FOOTER);
    s
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<R>(mut f: impl FnMut() -> R) -> Duration {
    for _ in 0..WARMUP {
        black_box(f());
    }
    let runs = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    median(runs)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times each stage on its own (inputs prepared outside the timed closure).
fn stages(src: &str) -> [Duration; 4] {
    let opts = archc::CheckOptions::default();
    let parse = time(|| archc::source_to_ast(src));
    let (ast, _) = archc::source_to_ast(src);
    let resolve = time(|| archc::ast_to_model(&ast, &opts.resolve));
    let (model, _) = archc::ast_to_model(&ast, &opts.resolve);
    let graph_t = time(|| archc::model_to_graph(&model));
    let (graph, _) = archc::model_to_graph(&model);
    let checks = time(|| archc::check::graph_checks(&model, &graph, opts.max_param_bytes));
    [parse, resolve, graph_t, checks]
}

fn main() {
    let want_stages = std::env::var_os("ARCHC_BENCH_STAGES").is_some();
    let opts = archc::CheckOptions::default();
    let mut all_linear = true;
    let mut goals_met = true;
    println!("archc check: median of {RUNS} runs after {WARMUP} warm-up runs\n");
    println!(
        "| variant  |      N | source KB | median ms | ms / 1000 blocks | time ratio vs N=100 | per-block ratio vs N=100 |"
    );
    println!(
        "|----------|-------:|----------:|----------:|-----------------:|--------------------:|-------------------------:|"
    );
    let mut stage_rows = Vec::new();
    for (variant, gen) in [
        ("distinct", distinct as fn(usize) -> String),
        ("repeat", repeat),
    ] {
        let mut base: Option<f64> = None;
        let mut per_block = Vec::new();
        for n in SIZES {
            let src = gen(n);
            // The generated file must be valid, or we would be timing an early exit.
            let checked = archc::check_source(&src, &opts);
            assert!(
                !checked.has_errors() && checked.graph.is_some(),
                "{variant} N={n}: generated file does not check: {:?}",
                checked.diagnostics.first()
            );
            let m = ms(time(|| archc::check_source(&src, &opts)));
            let per_1000 = m / n as f64 * 1000.0;
            let b = *base.get_or_insert(m);
            let b_per = b / 100.0 * 1000.0;
            println!(
                "| {variant:<8} | {n:>6} | {:>9.1} | {m:>9.3} | {per_1000:>16.3} | {:>19.2} | {:>24.2} |",
                src.len() as f64 / 1024.0,
                m / b,
                per_1000 / b_per,
            );
            per_block.push(per_1000);
            let goal = match n {
                1_000 => Some(10.0),
                10_000 => Some(100.0),
                _ => None,
            };
            if goal.is_some_and(|g| m >= g) {
                goals_met = false;
            }
            if want_stages {
                stage_rows.push((variant, n, stages(&src)));
            }
        }
        let growth = per_block[per_block.len() - 1] / per_block[0];
        let linear = growth <= 2.0;
        all_linear &= linear;
        println!(
            "|          |        |           |           |                  | {variant}: per-block time at 10000 / at 100 = {growth:.2} -> {} |",
            if linear { "linear" } else { "NOT linear" }
        );
    }
    println!();
    println!(
        "goal (< 10 ms at 1,000 blocks, < 100 ms at 10,000): {}",
        if goals_met { "met" } else { "MISSED" }
    );
    println!(
        "linear growth (per-block time at 10,000 within 2x of N=100): {}",
        if all_linear { "yes" } else { "NO" }
    );
    if want_stages {
        println!("\nper stage (median ms):\n");
        println!(
            "| variant  |      N | source_to_ast | ast_to_model | model_to_graph | graph_checks |"
        );
        println!(
            "|----------|-------:|--------------:|-------------:|---------------:|-------------:|"
        );
        for (variant, n, [a, b, c, d]) in stage_rows.iter().copied() {
            println!(
                "| {variant:<8} | {n:>6} | {:>13.3} | {:>12.3} | {:>14.3} | {:>12.3} |",
                ms(a),
                ms(b),
                ms(c),
                ms(d)
            );
        }
        // Linearity per stage: a stage can grow faster than the total while a faster-
        // growing stage is still small next to a linear one.
        println!("\nper-block time at N=10000 / at N=100, per stage (> 2 means superlinear):\n");
        for variant in ["distinct", "repeat"] {
            let row = |n: usize| {
                stage_rows
                    .iter()
                    .find(|r| r.0 == variant && r.1 == n)
                    .map(|r| r.2)
                    .expect("stage row")
            };
            let (lo, hi) = (row(100), row(10_000));
            let names = [
                "source_to_ast",
                "ast_to_model",
                "model_to_graph",
                "graph_checks",
            ];
            let parts: Vec<String> = (0..4)
                .map(|i| {
                    let g = (ms(hi[i]) / 10_000.0) / (ms(lo[i]) / 100.0);
                    format!(
                        "{} {g:.2}{}",
                        names[i],
                        if g > 2.0 { " (SUPERLINEAR)" } else { "" }
                    )
                })
                .collect();
            println!("- {variant}: {}", parts.join(", "));
        }
    }
    build_section();
}

/// `archc build` without the SVG: check, IR as YAML, cost summary (what the CLI does
/// before writing files). Goal: < 100 ms at 10,000 blocks, linear growth.
fn build_section() {
    let opts = archc::CheckOptions::default();
    println!("\narchc build without the SVG (check + IR YAML + summary): median of {RUNS} runs\n");
    println!("| variant  |      N | median ms | IR YAML KB | ms / 1000 blocks | per-block ratio vs N=100 |");
    println!("|----------|-------:|----------:|-----------:|-----------------:|-------------------------:|");
    let mut met = true;
    for (variant, gen) in [
        ("distinct", distinct as fn(usize) -> String),
        ("repeat", repeat),
    ] {
        let mut base = None;
        for n in SIZES {
            let src = gen(n);
            let build = || {
                let checked = archc::check_source(&src, &opts);
                let g = checked.graph.expect("the generated file checks");
                let yaml = archc::ir::ir_to_yaml(&archc::graph_to_ir(&g));
                let summary =
                    archc::analyze::graph_to_summary(&g, archc::analyze::Workload::default_for(&g));
                (yaml, summary)
            };
            let yaml_kb = build().0.len() as f64 / 1024.0;
            let m = ms(time(build));
            let per_1000 = m / n as f64 * 1000.0;
            let b: f64 = *base.get_or_insert(per_1000);
            if n == 10_000 && m >= 100.0 {
                met = false;
            }
            println!("| {variant:<8} | {n:>6} | {m:>9.3} | {yaml_kb:>10.1} | {per_1000:>16.3} | {:>24.2} |", per_1000 / b);
        }
    }
    println!(
        "\ngoal (< 100 ms at 10,000 blocks): {}",
        if met { "met" } else { "MISSED" }
    );
}
