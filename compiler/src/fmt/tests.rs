use super::*;
use crate::parse::source_to_ast;

/// The AST's debug text with every span removed: equal iff the trees are equal modulo spans.
fn shape(ast: &Ast) -> String {
    let text = format!("{ast:?}");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("Span { lo: ") {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find('}')
            .expect("a span's debug text ends with }");
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}

fn parse(src: &str) -> Ast {
    let (ast, errors) = source_to_ast(src);
    assert!(errors.is_empty(), "errors {errors:?} in:\n{src}");
    ast
}

fn texts(src: &str) -> Vec<String> {
    scan_comments(src).into_iter().map(|c| c.text).collect()
}

/// Formats `src` and checks every property the formatter promises; returns the output.
fn check(src: &str) -> String {
    let ast = parse(src);
    let once = ast_to_source(&ast, src);
    let again = parse(&once);
    assert_eq!(shape(&ast), shape(&again), "the AST changed:\n{once}");
    assert_eq!(
        texts(src),
        texts(&once),
        "comments lost, duplicated or reordered:\n{once}"
    );
    let twice = ast_to_source(&again, &once);
    assert_eq!(once, twice, "not idempotent");
    assert!(
        once.ends_with('\n') && !once.ends_with("\n\n"),
        "bad file end:\n{once:?}"
    );
    once
}

const GPT2: &str =
    "// GPT-2 small (Radford et al. 2019): 124,439,808 parameters with tied embeddings.
model gpt2_small

param d      = 768
param layers = 12
param heads  = 12
param vocab  = 50257
param ctx    = 1024

scale smoke { d = 64, layers = 2, heads = 2, vocab = 256, ctx = 64 }

block gpt2(width = d) {
  width:     width
  norm:      layernorm(bias = true, eps = 1e-5)
  placement: pre
  attention: attention(heads = heads, positions = none, bias = true)
  mlp:       gelu(hidden = 4 * width, bias = true)
}

stem text: tokens(vocab = vocab, max_len = ctx) {
  embed:     embedding(dim = d)
  positions: learned(max_len = ctx)
}

trunk {
  blocks: gpt2 x layers
}

head lm: text(target = text) {
  norm:       layernorm(bias = true, eps = 1e-5)
  projection: tied(text.embed)
  objective:  next_token
}
";

const MULTIMODAL: &str = r#"#![allow(output_latent_sharing, unused_stem)]
#![warn(unused_head)]

// A Janus-like model: text and image in, text and image out.
model janus_like

// Sizes
param d        = 2048
param heads    = 16
param head_dim = d / heads
param theta    = 10000.0

// Training
param rate_hi = 0.5  // the MAE upper bound

scale smoke { d = 64, heads = 2 }

block llama(width = d, heads = 32, kv_heads = heads) {
  width:     width
  norm:      rmsnorm(eps = 1e-6)
  attention: attention(heads = heads, kv_heads = kv_heads, positions = rope(theta = theta))
  mlp:       swiglu(hidden = ceil_div(8 * width, 3))
}

stem image: features(dim = 1024, rows = 576) {  // SigLIP-L/16 @ 384 px
  adapter: mlp(layers = 2, hidden = d, out = d)
  blocks:  llama x 1
}

trunk {
  from:   [text, image]
  blocks: [llama(heads = 8) x 2, llama x 30]
}

#[allow(output_latent_sharing)]
head lm: text(target = text) {
  norm:       rmsnorm(eps = 1e-6)
  // the projection reads the output latent
  projection: linear(bias = false)
  objective:  next_token(weight = 1.0, z_loss = 1e-5)
  // nothing after the objective
}

head pix: features(target = image) {
  #[deny(unknown_lint)]
  from:      trunk.blocks.31.out
  objective: masked_regression(shift = 1, loss = mse)
}

layer z: norm(rmsnorm) {
  from: lm.out
}

let latent = z.out
let mid = trunk.blocks.15

loop think: trunk.out -> trunk.in {
  steps:  entropy(head = lm, threshold = 2.0, max = 8)
  inject: add
}

mask image: bidirectional()
mask text: mask_tokens(rate = 0.0..rate_hi)
mask image: scales(1, 2, 4, 8)

// end of file
"#;

const MESSY: &str = "  model   m param d=768 param layers =12
#[allow(x)]   param   ff= 4*d+ - 1
scale s{d=1,layers=2;} stem text:tokens(vocab=1,max_len=2){embed:embedding(dim=d),positions:learned(max_len=2);}
trunk{blocks:[b x 2,b(w=1)x 3,]} block b(w=d,){width:w norm:rmsnorm(eps=1e-5) attention:attention(heads=2) mlp:gelu(hidden=(d+1)*2)}
  head lm:text(target=text) mask text:prefix(len=-(3))";

#[test]
fn gpt2_from_the_docs_is_already_canonical() {
    assert_eq!(check(GPT2), GPT2);
}

#[test]
fn multimodal_file_is_a_fixed_point() {
    assert_eq!(check(MULTIMODAL), MULTIMODAL);
}

#[test]
fn comments_everywhere_survive() {
    for file in [GPT2, MULTIMODAL] {
        let mut src = String::new();
        for (i, line) in file.lines().enumerate() {
            src.push_str(&format!("  // own {i}\n{line} // trailing {i}\n\n"));
        }
        check(&src);
    }
    let split: String = MESSY
        .split(' ')
        .map(|t| format!("{t} // {}\n", t.len()))
        .collect();
    check(&split);
}

#[test]
fn messy_file_is_laid_out() {
    let want = "model m

param d      = 768
param layers = 12
#[allow(x)]
param ff     = 4 * d + -1

scale s { d = 1, layers = 2 }

stem text: tokens(vocab = 1, max_len = 2) {
  embed:     embedding(dim = d)
  positions: learned(max_len = 2)
}

trunk {
  blocks: [b x 2, b(w = 1) x 3]
}

block b(w = d) {
  width:     w
  norm:      rmsnorm(eps = 1e-5)
  attention: attention(heads = 2)
  mlp:       gelu(hidden = (d + 1) * 2)
}

head lm: text(target = text)

mask text: prefix(len = -(3))
";
    assert_eq!(check(MESSY), want);
}

#[test]
fn comments_keep_their_places() {
    let src = "// header

#![allow(a)] // why
// before model
model m // trailing model

// section
param a = 1 // one
   // about b
param bb = 2
trunk { // open
  // lead
  blocks: b x 2  // two
  // closing
} // after close
// eof 1

// eof 2
";
    let want = "// header

#![allow(a)]  // why

// before model
model m  // trailing model

// section
param a  = 1  // one
// about b
param bb = 2

trunk {  // open
  // lead
  blocks: b x 2  // two
  // closing
}  // after close
// eof 1

// eof 2
";
    assert_eq!(check(src), want);
}

#[test]
fn comments_inside_one_line_constructs_move_before_them() {
    let src = "scale s { // why small
  // d first
  d = 1,
  layers = 2 }  // end
block b(
  // the width
  width = d, // d
  heads = 2
) {
  mlp: gelu(hidden = 4, // hidden
        bias = true) // bias
}
";
    assert_eq!(
        check(src),
        "// why small
// d first
scale s { d = 1, layers = 2 }  // end

// the width
block b(width = d, heads = 2) {  // d
  // hidden
  mlp: gelu(hidden = 4, bias = true)  // bias
}
"
    );
}

#[test]
fn attrs_block_params_empty_bodies_scales_and_strings() {
    for (src, want) in [
        (
            "#[allow(a,b)] #[deny(c)] layer z: norm(rmsnorm) { #[warn(d)] from: lm.out }",
            "#[allow(a, b)]\n#[deny(c)]\nlayer z: norm(rmsnorm) {\n  #[warn(d)]\n  from: lm.out\n}\n",
        ),
        (
            "block a(width, heads = 2) { width: width }\nblock b() {}\ntrunk t {}",
            "block a(width, heads = 2) {\n  width: width\n}\n\nblock b {}\n\ntrunk t {}\n",
        ),
        (
            "scale smoke {\n d = 64;\n layers = 2\n}\nscale none {}\n",
            "scale smoke { d = 64, layers = 2 }\nscale none {}\n",
        ),
        (
            "head h: text(target = t, note = \"http://x\") // real\n",
            "head h: text(target = t, note = \"http://x\")  // real\n",
        ),
    ] {
        assert_eq!(check(src), want);
    }
    assert_eq!(
        texts("param s = \"//\" // real"),
        vec!["// real".to_string()]
    );
}

#[test]
fn param_runs_align_and_blank_lines_split_them() {
    let src = "param a = 1\nparam long_name = 2\n\n// next group\nparam b = 3\nparam cc = 4\nlet x = a\nlet yy = b.out\n";
    let want = "param a         = 1\nparam long_name = 2\n\n// next group\nparam b  = 3\nparam cc = 4\n\nlet x = a\nlet yy = b.out\n";
    assert_eq!(check(src), want);
}

#[test]
fn expressions() {
    let src = "trunk { a: [1,2 ,3] b: 0.0 .. 1.0 c: x.blocks.3..x.blocks.4 d: -1 e: - - 2.5 f: ((a)) g: a-(b-c)%2 h: [] i: f() j: \"s t\" }";
    let want = "trunk {
  a: [1, 2, 3]
  b: 0.0..1.0
  c: x.blocks.3..x.blocks.4
  d: -1
  e: --2.5
  f: ((a))
  g: a - (b - c) % 2
  h: []
  i: f()
  j: \"s t\"
}
";
    assert_eq!(check(src), want);
}

#[test]
fn numbers_read_back_the_same() {
    for (lit, want) in [
        ("50_257", "50257"),
        ("10000.0", "10000.0"),
        ("1e-5", "1e-5"),
        ("1E5", "100000.0"),
        ("1e20", "1e20"),
        ("1e-7", "1e-7"),
        ("2.5e300", "2.5e300"),
        ("0.02", "0.02"),
        ("9223372036854775807", "9223372036854775807"),
    ] {
        let src = format!("param p = {lit}\nparam n = -{lit}\n");
        let out = check(&src);
        assert_eq!(out, format!("param p = {want}\nparam n = -{want}\n"));
    }
}

#[test]
fn only_comments_and_empty_files() {
    assert_eq!(check("// one\n\n\n// two"), "// one\n\n// two\n");
    assert_eq!(ast_to_source(&parse(""), ""), "");
}
