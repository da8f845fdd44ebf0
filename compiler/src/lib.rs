#![doc = include_str!("../../ARCHITECTURE.md")]
// Errors are data passed by value (facts and spans, see diag.rs); they are built once
// per mistake, never on a hot path, so boxing them would only add noise.
#![allow(clippy::result_large_err)]
//! The stages, each one public function: [`source_to_ast`] → [`ast_to_model`] →
//! [`model_to_graph`] (+ [`check::graph_checks`]) → [`graph_to_ir`]. [`check_source`]
//! chains them. Nothing here reads files, prints, or picks exit codes.

pub mod analyze;
pub mod ast;
pub mod check;
pub mod diag;
pub mod diff;
pub mod draw;
pub mod eval;
pub mod explain;
pub mod fmt;
pub mod gen;
pub mod graph;
pub mod ir;
pub mod model;
pub mod parse;
pub mod render;
pub mod resolve;
pub mod span;
pub mod suggest;

pub use graph::model_to_graph;
pub use ir::graph_to_ir;
pub use parse::source_to_ast;
pub use resolve::ast_to_model;

use ast::LintLevel;
use diag::{Diagnostic, Error, Severity};
use span::Span;

/// 1 TiB of f32 parameters (about 275 billion): larger is refused before anything is allocated.
pub const DEFAULT_MAX_PARAM_BYTES: u128 = 1 << 40;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub resolve: resolve::Options,
    pub max_param_bytes: u128,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            resolve: resolve::Options::default(),
            max_param_bytes: DEFAULT_MAX_PARAM_BYTES,
        }
    }
}

/// Everything `check_source` learned. `graph` is present when no error stopped it.
#[derive(Debug, Default)]
pub struct Checked {
    pub ast: Option<ast::Ast>,
    pub model: Option<model::Model>,
    pub graph: Option<graph::ArchGraph>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The text of a file (without a UTF-8 byte-order mark, which editors on Windows write),
/// or a diagnostic at its first byte that is not UTF-8 (an offset into `bytes`).
pub fn decode(bytes: &[u8]) -> Result<&str, Diagnostic> {
    let bom = if bytes.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    std::str::from_utf8(&bytes[bom..]).map_err(|e| {
        let at = bom + e.valid_up_to();
        Diagnostic {
            error: Error::InvalidUtf8 {
                at: Span::new(at, at + e.error_len().unwrap_or(1)),
            },
            severity: Severity::Error,
        }
    })
}

/// The byte-order mark some editors put at the start of a UTF-8 file.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses, resolves, builds and checks one file. Stops after the first stage that
/// reports an error, so one mistake does not cascade into many.
pub fn check_source(src: &str, opts: &CheckOptions) -> Checked {
    let (ast, errors) = source_to_ast(src);
    if !errors.is_empty() {
        return stopped(errors);
    }
    check_ast(ast, opts, |_| {})
}

/// A result that an early stage stopped, with its errors.
fn stopped(errors: Vec<Error>) -> Checked {
    finish(Checked {
        diagnostics: errors
            .into_iter()
            .map(|error| Diagnostic {
                severity: error.default_severity(),
                error,
            })
            .collect(),
        ..Checked::default()
    })
}

/// Resolves, builds and checks a syntax tree; `adjust` sees the resolved model before its
/// graph is built.
fn check_ast(
    ast: ast::Ast,
    opts: &CheckOptions,
    adjust: impl FnOnce(&mut model::Model),
) -> Checked {
    let mut out = Checked::default();
    let (mut model, errors) = ast_to_model(&ast, &opts.resolve);
    out.ast = Some(ast);
    out.diagnostics = apply_lints(&model, errors);
    if out.has_errors() {
        out.model = Some(model);
        return finish(out);
    }
    adjust(&mut model);
    let (graph, errors) = model_to_graph(&model);
    out.diagnostics.extend(apply_lints(&model, errors));
    if !out.has_errors() {
        let errors = check::graph_checks(&model, &graph, opts.max_param_bytes);
        out.diagnostics.extend(apply_lints(&model, errors));
        out.graph = Some(graph);
    }
    out.model = Some(model);
    finish(out)
}

/// Reads an IR document (`archc build`'s `ir.yaml`) back through the same checks as a
/// `.arch` file: the document as the syntax tree that says the same (every value located
/// in the YAML), resolved, built and checked, and then the rebuilt graph compared with
/// the document, which must say nothing its layers do not. `opts` gives the limits (an
/// IR is already instantiated: its overridden parameters are marked in it).
pub fn check_ir(text: &str, opts: &CheckOptions) -> Checked {
    let doc = match ir::read::yaml_to_spanned(text) {
        Ok(d) => d,
        Err(e) => return stopped(vec![e]),
    };
    let theirs = match ir::read::spanned_to_ir(&doc) {
        Ok(ir) => ir,
        Err(e) => return stopped(vec![e]),
    };
    let (ast, errors) = ir::ir_to_ast(&theirs, &doc);
    if !errors.is_empty() {
        return stopped(errors);
    }
    let mut opts = opts.clone();
    opts.resolve = resolve::Options {
        scale: None,
        overrides: theirs
            .params
            .iter()
            .filter(|p| p.overridden)
            .map(|p| (p.name.clone(), p.value.to_string()))
            .collect(),
    };
    let mut out = check_ast(ast, &opts, |m| {
        for spec in block_specs(m) {
            spec.def = ir::block_def_name(&spec.def).to_string();
        }
    });
    let Some(graph) = out.graph.as_mut().filter(|_| {
        !out.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }) else {
        return out;
    };
    let ours = graph_to_ir(graph);
    let errors = ir::compare(&doc, &theirs, &ours);
    if errors.is_empty() {
        // The document's order of lint attributes (a set to the checks) is kept.
        let mut lints = std::mem::take(&mut graph.lints);
        for l in &theirs.lints {
            if let Some(i) = lints.iter().position(|x| {
                x.lint.name() == l.lint && x.level.as_str() == l.level && x.item == l.item
            }) {
                graph.lints.push(lints.remove(i));
            }
        }
        graph.lints.extend(lints);
    }
    out.diagnostics
        .extend(errors.into_iter().map(|error| Diagnostic {
            severity: error.default_severity(),
            error,
        }));
    finish(out)
}

/// Every block of a model, wherever it sits.
fn block_specs(m: &mut model::Model) -> impl Iterator<Item = &mut model::BlockSpec> {
    let stems = m.stems.iter_mut().flat_map(|s| s.blocks.iter_mut());
    let trunk = m.trunk.iter_mut().flat_map(|t| t.blocks.iter_mut());
    let heads = m.heads.iter_mut().flat_map(|h| h.blocks.iter_mut());
    let layers = m.layers.iter_mut().filter_map(|l| match &mut l.kind {
        model::LayerKind::Block(b) => Some(b),
        _ => None,
    });
    stems.chain(trunk).chain(heads).chain(layers)
}

fn finish(mut out: Checked) -> Checked {
    // One report per cycle, however many of its members found it.
    let mut cycles: Vec<Vec<String>> = Vec::new();
    out.diagnostics.retain(|d| match &d.error {
        Error::Cycle { members, .. } => {
            let mut key = members.clone();
            key.sort();
            if cycles.contains(&key) {
                false
            } else {
                cycles.push(key);
                true
            }
        }
        _ => true,
    });
    out.diagnostics
        .sort_by_key(|d| (d.error.primary_span().lo, d.error.code()));
    out
}

/// Sets each diagnostic's severity from the lint attributes that cover it.
fn apply_lints(model: &model::Model, errors: Vec<Error>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for mut error in errors {
        let Some(lint) = error.lint() else {
            out.push(Diagnostic {
                severity: error.default_severity(),
                error,
            });
            continue;
        };
        // The most specific attribute wins: the item that triggers the lint, then (for a
        // shared latent) the text head, then the file.
        let items: Vec<&str> = match &error {
            Error::UnusedStem { name, .. }
            | Error::UnusedHead { name, .. }
            | Error::UnusedBlock { name, .. }
            | Error::UnusedLayer { name, .. } => vec![name],
            Error::UnknownLint { item, .. } => item.iter().map(String::as_str).collect(),
            Error::OutputLatentShared {
                consumer_item,
                text_head_name,
                ..
            } => vec![consumer_item, text_head_name],
            _ => Vec::new(),
        };
        let attr = items
            .iter()
            .find_map(|i| model.item_lint(lint, i))
            .or_else(|| model.file_lint(lint))
            .map(|a| (a.level, a.span));
        let severity = match attr {
            // An allowed latent sharing is still reported, as a warning naming the allow.
            Some((LintLevel::Allow, span)) => match &mut error {
                Error::OutputLatentShared { allowed, .. } => {
                    *allowed = Some(span);
                    Severity::Warning
                }
                _ => continue,
            },
            Some((LintLevel::Warn, _)) => Severity::Warning,
            Some((LintLevel::Deny, _)) => Severity::Error,
            None => error.default_severity(),
        };
        out.push(Diagnostic { error, severity });
    }
    out
}
