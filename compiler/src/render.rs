//! The one place where diagnostics become words: message, labels, help. Everything
//! before this carries facts; the CLI only picks colours and exit codes.

use crate::diag::{Diagnostic, Error, Severity};
use crate::span::{line_col, Span};
use miette::{LabeledSpan, NamedSource};
use std::fmt;

/// A diagnostic ready for miette (and for JSON).
#[derive(Debug)]
pub struct Report {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// (span, label, primary?)
    pub labels: Vec<(Span, String, bool)>,
    pub help: Option<String>,
    pub src: NamedSource<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.labels.is_empty() {
            None
        } else {
            Some(&self.src)
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|(s, l, primary)| {
            let label = if l.is_empty() { None } else { Some(l.clone()) };
            if *primary {
                LabeledSpan::new_primary_with_span(label, *s)
            } else {
                LabeledSpan::new_with_span(label, *s)
            }
        })))
    }
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn list(items: &[&str]) -> String {
    items.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
}

fn suggest(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| format!("did you mean `{s}`?"))
}

/// Turns one diagnostic into a report over `src` (named `name`).
pub fn report(d: &Diagnostic, name: &str, src: &str) -> Report {
    let (message, labels, help) = words(&d.error);
    // Labels must lie inside the source for miette.
    let labels = labels
        .into_iter()
        .filter(|(s, _, _)| s.hi <= src.len())
        .collect();
    Report {
        code: d.error.code(),
        severity: d.severity,
        message,
        labels,
        help,
        src: NamedSource::new(name, src.to_string()),
    }
}

type Words = (String, Vec<(Span, String, bool)>, Option<String>);

fn words(e: &Error) -> Words {
    use Error::*;
    let p = |s: &Span, l: String| (*s, l, true);
    let s = |s: &Span, l: String| (*s, l, false);
    match e {
        Syntax { at, expected, found } => {
            let exp = match expected.as_slice() {
                [] => "something else".to_string(),
                [one] => one.clone(),
                many => format!("one of {}", many.join(", ")),
            };
            let found = found.clone().unwrap_or_else(|| "end of file".into());
            (format!("syntax error: expected {exp}, found {found}"), vec![p(at, format!("expected {exp}"))], None)
        }
        InvalidUtf8 { at } => ("the file is not valid UTF-8".into(), vec![p(at, "this byte is not UTF-8".into())], Some("save the file as UTF-8".into())),
        TooDeep { at, limit } => (
            format!("nesting or expression too deep (the limit is {limit})"),
            vec![p(at, "too deep from here".into())],
            Some("split the expression into parameters".into()),
        ),
        NumberTooLarge { at, digits } => (
            format!("number literal out of range ({digits} characters)"),
            vec![p(at, "does not fit in a 64-bit integer or a finite float".into())],
            Some(format!("integers go up to {}", i64::MAX)),
        ),
        UnknownName { at, name, what, suggestion } => (format!("unknown {what} `{name}`"), vec![p(at, format!("no {what} has this name"))], suggest(suggestion)),
        Duplicate { at, first, name, what } => (
            format!("{what} `{name}` is defined twice"),
            vec![p(at, "defined again here".into()), s(first, "first defined here".into())],
            Some("rename or remove one of the two".to_string()),
        ),
        UnknownKey { at, key, item, expected, suggestion } => {
            let help = suggest(suggestion).or_else(|| (!expected.is_empty()).then(|| format!("{item} takes {}", list(expected))));
            (format!("{item} has no property or argument `{key}`"), vec![p(at, "unknown here".into())], help)
        }
        MissingKey { at, key, item, example } => (format!("{item} needs `{key}`"), vec![p(at, format!("`{key}` is missing"))], Some(format!("add it, e.g. `{example}`"))),
        WrongType { at, expected, found } => (format!("expected {expected}, found {found}"), vec![p(at, format!("expected {expected}"))], None),
        UnknownOption { at, found, what, choices, suggestion } => (
            format!("unknown {what} `{found}`"),
            vec![p(at, format!("not a {what}"))],
            suggest(suggestion).or_else(|| (!choices.is_empty()).then(|| format!("expected one of {}", list(choices)))),
        ),
        UnusedStem { at, name } => (
            format!("stem `{name}` is never read"),
            vec![p(at, "nothing reads this stem's output".into())],
            Some(format!("feed it to the trunk (`from: [..., {name}]`) or remove it")),
        ),
        UnusedHead { at, name } => (format!("head `{name}` contributes nothing"), vec![p(at, "its loss weight is 0 and no loop reads its entropy".into())], Some("give it a weight or remove it".into())),
        UnusedBlock { at, name } => (format!("block `{name}` is never used"), vec![p(at, "defined here, used nowhere".into())], Some("use it in `blocks:` or remove it".into())),
        UnknownLint { at, name, suggestion } => {
            let names: Vec<&str> = crate::diag::LINTS.iter().map(|l| l.1).collect();
            (format!("unknown lint `{name}`"), vec![p(at, "not a lint".into())], suggest(suggestion).or(Some(format!("lints are {}", list(&names)))))
        }
        MultipleTrunks { at, first } => (
            "a model has one trunk".into(),
            vec![p(at, "second trunk".into()), s(first, "first trunk".into())],
            Some("merge the blocks into one trunk, or give the extra blocks to a stem or a head".into()),
        ),
        Overflow { at, op } => (format!("arithmetic overflow in `{op}`"), vec![p(at, "overflows a 64-bit integer".into())], None),
        DivisionByZero { at } => ("division by zero".into(), vec![p(at, "this is zero".into())], None),
        InexactDivision { at, lhs, rhs } => (
            format!("{lhs} / {rhs} is not a whole number"),
            vec![p(at, format!("{lhs} is not divisible by {rhs}"))],
            Some("integer `/` must be exact; use `ceil_div(a, b)` to round up, or change the sizes".into()),
        ),
        NotPositive { at, what, value } => (format!("{what} must be positive, found {value}"), vec![p(at, format!("is {value}"))], None),
        ParamCycle { at, name, chain } => (
            format!("parameter `{name}` depends on itself"),
            vec![p(at, format!("{} ", chain.join(" -> ")))],
            Some("give one of them a value that does not refer back".into()),
        ),
        BadOverride { name, reason, suggestion } => (format!("cannot override `{name}`: {reason}"), Vec::new(), suggest(suggestion)),
        WidthMismatch { producer, producer_name, producer_width, consumer, consumer_name, consumer_width } => {
            let mut labels = vec![p(consumer, format!("{consumer_name} expects width {consumer_width}"))];
            if producer != consumer {
                labels.push(s(producer, format!("{producer_name} produces width {producer_width}")));
            }
            (
                format!("width mismatch: {producer_name} produces {producer_width}, {consumer_name} expects {consumer_width}"),
                labels,
                Some("make the widths agree, or put an adapter (`adapter: mlp(out = ...)`) or a `layer ...: linear(out = ...)` between them".into()),
            )
        }
        HeadsDoNotDivide { at, heads, width } => (
            format!("{heads} heads do not divide the width {width}"),
            vec![p(at, format!("{width} / {heads} is not a whole head dimension"))],
            Some("choose a head count that divides the width, or give `head_dim` and keep heads * head_dim = width".into()),
        ),
        KvHeadsDoNotDivide { at, kv_heads, heads } => (
            format!("{kv_heads} kv heads do not divide {heads} query heads"),
            vec![p(at, "grouped-query attention needs heads % kv_heads = 0".into())],
            None,
        ),
        HeadDimMismatch { at, heads, head_dim, width } => (
            format!("{heads} heads x head_dim {head_dim} = {} is not the width {width}", (*heads as u128) * (*head_dim as u128)),
            vec![p(at, "inconsistent head dimension".into())],
            Some(format!("drop `head_dim` (it defaults to width / heads) or make heads * head_dim = {width}")),
        ),
        TiedShapeMismatch { at, embedding, embedding_name, embedding_shape, projection_shape } => (
            format!(
                "tied projection has shape [{}, {}] but `{embedding_name}` is [{}, {}]",
                projection_shape[0], projection_shape[1], embedding_shape[0], embedding_shape[1]
            ),
            vec![
                p(at, format!("projection [{}, {}]", projection_shape[0], projection_shape[1])),
                s(embedding, format!("embedding [{}, {}]", embedding_shape[0], embedding_shape[1])),
            ],
            Some("tie to an embedding of the same vocabulary and width, or use `projection: linear`".into()),
        ),
        Cycle { at, members, spans } => {
            let mut labels = vec![p(at, "this read closes a cycle".into())];
            labels.extend(spans.iter().filter(|x| *x != at).map(|x| s(x, "part of the cycle".into())));
            (
                format!("cycle through {} that is not a declared loop", members.join(", ")),
                labels,
                Some("feedback must be a `loop NAME: SOURCE -> TARGET { steps: ... }`".into()),
            )
        }
        LoopNotBackward { at, source, target } => (
            format!("loop target `{target}` is not upstream of its source `{source}`"),
            vec![p(at, "a loop carries a later value back to an earlier port".into())],
            Some(format!("did you mean `loop ...: {target} -> {source}`?")),
        ),
        LoopSteps { at, steps, max } => (format!("loop steps must be between 1 and {max}, found {steps}"), vec![p(at, format!("{steps} steps"))], None),
        BadPort { at, path, reason } => (format!("`{path}` is not a port"), vec![p(at, reason.clone())], None),
        GateNotText { at, head, head_span, kind } => (
            format!("an entropy gate needs a text head, but `{head}` is a {kind} head"),
            vec![p(at, "gate".into()), s(head_span, format!("a {kind} head"))],
            Some("gate on the entropy of a text head's next-token distribution".into()),
        ),
        MaskUnknownModality { at, modality, suggestion } => (
            format!("mask region names `{modality}`, which is not a stem"),
            vec![p(at, "no stem has this name".into())],
            suggest(suggestion),
        ),
        RateOutOfRange { at, value } => (format!("rate {value:?} is outside [0, 1]"), vec![p(at, "must be within [0, 1]".into())], None),
        FutureTokenLeak { mask, modality, head, head_name, objective } => (
            format!("future-token leak: `{modality}` is bidirectional, and head `{head_name}` predicts its next position"),
            vec![
                p(mask, "positions here see later positions".into()),
                s(objective, "trained to predict the next position".into()),
                s(head, format!("head `{head_name}`")),
            ],
            Some(format!("keep `{modality}` causal, or predict it with masked regression over `mask_tokens`")),
        ),
        BadScales { at, reason } => (format!("invalid mask region: {reason}"), vec![p(at, reason.clone())], None),
        NoObjective { at, head, kind } => (
            format!("head `{head}` has no objective"),
            vec![p(at, "nothing trains this head".into())],
            Some(format!("add e.g. `objective: {}`", match kind.as_str() {
                "text" => "next_token",
                "codes" => "vq_ce",
                "features" => "masked_regression(shift = 1)",
                "diffusion" => "diffusion(layers = 3)",
                _ => "classify",
            })),
        ),
        TargetWithoutStem { at, target, needs, suggestion } => {
            let msg = if target.is_empty() {
                format!("this head needs `target = ...`: a `{needs}` stem")
            } else {
                format!("objective target `{target}` is not a `{needs}` stem")
            };
            (msg, vec![p(at, format!("needs a `{needs}` stem"))], suggest(suggestion))
        }
        ObjectiveMismatch { at, objective, head_kind, expected } => (
            format!("a {head_kind} head cannot train with `{objective}`"),
            vec![p(at, format!("not an objective for a {head_kind} head"))],
            Some(format!("use {}", list(expected))),
        ),
        OutputLatentShared { text_head, text_head_name, consumer, consumer_name, value, value_name, allowed } => {
            let mut labels = vec![
                p(consumer, format!("{consumer_name} reads it")),
                s(text_head, format!("text head `{text_head_name}`")),
                s(value, format!("the shared value: the output of `{value_name}`")),
            ];
            match allowed {
                Some(a) => {
                    labels.push(s(a, "allowed here".into()));
                    (
                        format!("{consumer_name} shares the output latent of text head `{text_head_name}` (allowed)"),
                        labels,
                        Some("the allow keeps this baseline expressible; the seeds' designs give the text head its own block".into()),
                    )
                }
                None => (
                    format!("{consumer_name} reads the output latent of text head `{text_head_name}`"),
                    labels,
                    Some(format!("give head `{text_head_name}` a block of its own (`blocks: <block> x 1`), or allow it with `#[allow(output_latent_sharing)]`")),
                ),
            }
        }
        TooManyParams { at, params, bytes, limit_bytes } => (
            format!("{params} parameters take {bytes} bytes at f32, over the limit of {limit_bytes}"),
            vec![p(at, "this model".into())],
            Some("shrink it with `--set` or `--smoke`, or raise `--max-params-bytes`".into()),
        ),
        TooManyBlocks { at, count, limit } => (format!("{count} blocks is over the limit of {limit}"), vec![p(at, "too many blocks".into())], None),
        Poisoned => ("an error reported elsewhere".into(), Vec::new(), None),
    }
}

/// A diagnostic as JSON (for `--format json`).
pub fn to_json(d: &Diagnostic, name: &str, src: &str) -> serde_json::Value {
    let r = report(d, name, src);
    let labels: Vec<serde_json::Value> = r
        .labels
        .iter()
        .map(|(sp, l, primary)| {
            let (line, column) = line_col(src, sp.lo);
            serde_json::json!({ "offset": sp.lo, "length": sp.len(), "line": line, "column": column, "label": l, "primary": primary })
        })
        .collect();
    serde_json::json!({
        "file": name,
        "code": r.code,
        "severity": r.severity,
        "message": r.message,
        "labels": labels,
        "help": r.help,
    })
}
