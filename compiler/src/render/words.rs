//! Message, labels and help for each diagnostic: the only place that chooses words.

use crate::diag::Error;
use crate::span::Span;

/// (message, labels as (span, text, primary?), help)
pub type Words = (String, Vec<(Span, String, bool)>, Option<String>);

/// Names longer than this are cut in messages (a 1 MB identifier must not become 5 MB
/// of output).
const MAX_NAME_CHARS: usize = 60;

fn short(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        name.to_string()
    } else {
        let cut: String = name.chars().take(MAX_NAME_CHARS).collect();
        format!("{cut}… ({} characters)", name.chars().count())
    }
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn list(items: &[&str]) -> String {
    items.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
}

fn suggest(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| format!("did you mean `{}`?", short(s)))
}

/// "a" or "an" before a word.
fn a(word: &str) -> String {
    let vowel = word
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    // "an MLP": the letter is read as "em".
    let an = vowel || word.starts_with("MLP");
    format!("{} {word}", if an { "an" } else { "a" })
}

pub fn words(e: &Error) -> Words {
    use Error::*;
    let p = |s: &Span, l: String| (*s, l, true);
    let s = |s: &Span, l: String| (*s, l, false);
    match e {
        Syntax { at, expected, found, unclosed } => {
            let exp = match expected.as_slice() {
                [] => "something else".to_string(),
                [one] => one.clone(),
                many => format!("one of {}", many.join(", ")),
            };
            let found = found.clone().map_or("end of file".to_string(), |f| short(&f));
            let mut labels = vec![p(at, format!("expected {exp}"))];
            if let Some(open) = unclosed {
                labels.push(s(open, "this bracket is never closed".into()));
            }
            let help = unclosed.map(|_| "close the bracket marked above".to_string());
            (format!("syntax error: expected {exp}, found {found}"), labels, help)
        }
        InvalidUtf8 { at } => (
            "the file is not valid UTF-8".into(),
            vec![p(at, "this byte is not UTF-8".into())],
            Some("save the file as UTF-8".into()),
        ),
        TooDeep { at, limit, what } => (
            format!("too deep: more than {limit} {what}"),
            vec![p(at, "the limit is passed here".into())],
            Some(match *what {
                "operators in one expression" => "split the expression into parameters".to_string(),
                "brackets nested" => "flatten the nesting".to_string(),
                _ => "give some of them a value directly".to_string(),
            }),
        ),
        NumberTooLarge { at, digits } => (
            format!("number literal out of range ({digits} characters)"),
            vec![p(at, "does not fit in a 64-bit integer or a finite float".into())],
            Some(format!("integers go up to {}; floats up to about 1.8e308", i64::MAX)),
        ),
        NameTooLong { at, len, limit } => (
            format!("name too long: {len} bytes, the limit is {limit}"),
            vec![p(at, "this name".into())],
            Some("use a shorter name".into()),
        ),
        IrMalformed { at, reason, first } => {
            let mut labels = vec![p(at, "here".into())];
            if let Some(f) = first {
                labels.push(s(f, "first here".into()));
            }
            (
                format!("not an archc IR: {reason}"),
                labels,
                Some("an IR is what `archc build` writes as `ir.yaml`; rebuild it from the .arch file, or mend it here".into()),
            )
        }
        IrSchema { at, found, expected } => (
            if found == "none" {
                format!("the document has no `schema`: an IR says which schema it is written in (this archc reads {expected})")
            } else {
                format!("IR schema {found}, but this archc reads schema {expected}")
            },
            vec![p(at, "the schema".into())],
            Some("rebuild the IR from its .arch file with this archc (`archc build FILE.arch`)".into()),
        ),
        IrInconsistent { at, field, reason } => (
            format!("the IR's {field} {reason}"),
            vec![p(at, "does not follow from the layers".into())],
            Some("an IR states some things twice (widths, rows, edges, sizes its layers imply): change a layer's own value and let `archc build` write the rest, or rebuild the IR from its .arch file".into()),
        ),
        UnknownName { at, name, what, suggestion } => (
            format!("unknown {what} `{}`", short(name)),
            vec![p(at, format!("no {what} has this name"))],
            suggest(suggestion),
        ),
        Duplicate { at, first, name, what } => {
            if *what == "trunk input" {
                return (
                    format!("the trunk reads `{}` twice", short(name)),
                    vec![p(at, "read again here".into()), s(first, "first read here".into())],
                    Some("list each stem once in `from:`".into()),
                );
            }
            if *what == "model name" {
                return (
                    "the model is named twice".into(),
                    vec![p(at, "second `model`".into()), s(first, "first `model`".into())],
                    Some("keep one `model NAME` line".into()),
                );
            }
            (
                format!("{what} `{}` is defined twice", short(name)),
                vec![p(at, "defined again here".into()), s(first, "first defined here".into())],
                Some("rename or remove one of the two".to_string()),
            )
        }
        UnknownKey { at, key, item, expected, suggestion } => {
            let help = suggest(suggestion)
                .or_else(|| (!expected.is_empty()).then(|| format!("{item} takes {}", list(expected))));
            let message = if key.starts_with("argument ") {
                format!("{item} takes no {key}")
            } else {
                format!("{item} has no property or argument `{}`", short(key))
            };
            (message, vec![p(at, "unknown here".into())], help)
        }
        MissingKey { at, key, item, example } => (
            format!("{item} needs `{key}`"),
            vec![p(at, format!("`{key}` is missing"))],
            Some(format!("add it, e.g. `{example}`")),
        ),
        MissingBlockArg { at, block, arg } => (
            format!("block `{block}` needs a value for `{arg}`, which has no default"),
            vec![p(at, format!("`{arg}` is not given"))],
            Some(format!("pass it, e.g. `{block}({arg} = ...)`, or give it a default in the definition")),
        ),
        WrongType { at, expected, found } => (
            format!("expected {expected}, found {found}"),
            vec![p(at, format!("expected {expected}"))],
            None,
        ),
        UnknownOption { at, found, what, choices, suggestion } => (
            format!("unknown {what} `{}`", short(found)),
            vec![p(at, format!("not {}", a(what)))],
            suggest(suggestion)
                .or_else(|| (!choices.is_empty()).then(|| format!("expected one of {}", list(choices)))),
        ),
        UnusedStem { at, name } => (
            format!("stem `{name}` is never read"),
            vec![p(at, "nothing reads this stem's output".into())],
            Some(format!("feed it to the trunk (`from: [..., {name}]`) or remove it")),
        ),
        StemNotMerged { at, name, from } => {
            let mut labels = vec![p(at, "the trunk does not read this stem".into())];
            if let Some(f) = from {
                labels.push(s(f, format!("`{name}` is not among these")));
            }
            (
                format!("stem `{name}` is outside the trunk's sequence"),
                labels,
                Some(format!("a model with a trunk lays every stem out in the trunk's one sequence: add `{name}` to the trunk's `from:`, or remove the stem")),
            )
        }
        UnusedHead { at, name } => (
            format!("head `{name}` contributes nothing"),
            vec![p(at, "its loss weight is 0 and no loop reads its entropy".into())],
            Some("give it a weight or remove it".into()),
        ),
        UnusedLayer { at, name, what } => (
            format!("{what} `{name}` is never read"),
            vec![p(at, format!("nothing reads this {what}'s output"))],
            Some(format!("read it (a head's or layer's `from: {name}`, or a loop's source), or remove it")),
        ),
        UnusedBlock { at, name } => (
            format!("block `{name}` is never used"),
            vec![p(at, "defined here, used nowhere".into())],
            Some("use it in `blocks:` or remove it".into()),
        ),
        UnknownLint { at, name, suggestion, .. } => {
            let names: Vec<&str> = crate::diag::LINTS.iter().map(|l| l.1).collect();
            (
                format!("unknown lint `{}`", short(name)),
                vec![p(at, "not a lint".into())],
                suggest(suggestion).or(Some(format!("lints are {}", list(&names)))),
            )
        }
        MultipleTrunks { at, first } => (
            "a model has one trunk".into(),
            vec![p(at, "second trunk".into()), s(first, "first trunk".into())],
            Some("merge the blocks into one trunk, or give the extra blocks to a stem or a head".into()),
        ),
        EmptyModel { at, no_stem, no_head, at_trunk } => {
            let stem = "`stem text: tokens(vocab = 256, max_len = 64) { embed: embedding(dim = 64) }`";
            let head = "`head lm: text(target = text) { objective: next_token }`";
            let (message, help) = match (no_stem, no_head) {
                (true, true) => (
                    "the model has no stem and no head: nothing comes in, nothing comes out".to_string(),
                    format!("a model reads data through stems and predicts through heads: add {stem}, a trunk and {head}"),
                ),
                (true, false) => (
                    "the model has no stem: nothing comes in".to_string(),
                    format!("a model reads its data through stems: add one, e.g. {stem}"),
                ),
                _ => (
                    "the model has no head: nothing comes out and nothing is trained".to_string(),
                    format!("a model predicts through heads: add one, e.g. {head}"),
                ),
            };
            let label = if *at_trunk { "no head reads the trunk's output" } else { "the model starts here" };
            (message, vec![p(at, label.into())], Some(help))
        }
        OutOfRange { at, what, value, allowed } => (
            format!("{what} is {value}, outside its range: {allowed}"),
            vec![p(at, format!("is {value}"))],
            None,
        ),
        Overflow { at, op } => (
            format!("arithmetic overflow in `{op}`"),
            vec![p(at, "the result is out of range".into())],
            Some(format!("integers go up to {}", i64::MAX)),
        ),
        DivisionByZero { at } => ("division by zero".into(), vec![p(at, "this is zero".into())], None),
        InexactDivision { at, lhs, rhs } => (
            format!("{lhs} / {rhs} is not a whole number"),
            vec![p(at, format!("{lhs} is not divisible by {rhs}"))],
            Some("integer `/` must be exact; use `ceil_div(a, b)` to round up, or change the sizes".into()),
        ),
        NotPositive { at, what, value, zero_ok } => {
            let must = if *zero_ok { "must not be negative" } else { "must be positive" };
            (format!("{what} {must}, found {value}"), vec![p(at, format!("is {value}"))], None)
        }
        ParamCycle { at, name, chain } => (
            format!("parameter `{name}` depends on itself"),
            vec![p(at, chain.join(" -> "))],
            Some("give one of them a value that does not refer back".into()),
        ),
        BadOverride { name, reason, suggestion, scale } => {
            let message = if *scale {
                format!("cannot apply scale `{}`: {reason}", short(name))
            } else {
                format!("cannot override `{}`: {reason}", short(name))
            };
            (message, Vec::new(), suggest(suggestion))
        }
        WidthMismatch { producer, producer_name, producer_width, consumer, consumer_name, consumer_width } => {
            let mut labels = vec![p(consumer, format!("{consumer_name} expects width {consumer_width}"))];
            if producer != consumer {
                labels.push(s(producer, format!("{producer_name} produces width {producer_width}")));
            }
            (
                format!(
                    "width mismatch: {producer_name} produces {producer_width}, {consumer_name} expects {consumer_width}"
                ),
                labels,
                Some(
                    "make the widths agree, or put an adapter (`adapter: mlp(out = ...)`) or a `layer ...: linear(out = ...)` between them"
                        .into(),
                ),
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
            format!(
                "{heads} heads x head_dim {head_dim} = {} is not the width {width}",
                (*heads as u128) * (*head_dim as u128)
            ),
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
        PositionsTooShort { at, stem, max_len, rows } => (
            format!("stem `{stem}` holds {rows} positions, but its learned positions stop at {max_len}"),
            vec![p(at, format!("{max_len} positions"))],
            Some(format!("give it a row per position: `positions: learned(max_len = {rows})`, or leave `max_len` out (it defaults to the stem's length)")),
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
        LoopNotBackward { at, source, target } => {
            let help = if source == target {
                "a loop needs at least one layer between its source and its target".to_string()
            } else {
                format!("did you mean `loop ...: {target} -> {source}`?")
            };
            (
                format!("loop target `{target}` is not upstream of its source `{source}`"),
                vec![p(at, "a loop carries a later value back to an earlier port".into())],
                Some(help),
            )
        }
        LoopSteps { at, steps, max } => (
            format!("loop steps must be between 1 and {max}, found {steps}"),
            vec![p(at, format!("{steps} steps"))],
            None,
        ),
        BadPort { at, path, reason } => (
            format!("cannot read `{}` here", short(path)),
            vec![p(at, reason.clone())],
            None,
        ),
        GateNotText { at, head, head_span, kind } => (
            format!("an entropy gate needs a text head, but `{head}` is {} head", a(kind)),
            vec![p(at, "gate".into()), s(head_span, format!("{} head", a(kind)))],
            Some("gate on the entropy of a text head's next-token distribution".into()),
        ),
        GateOutsideLoop { at, loop_name, head, reads, source } => (
            format!("loop `{loop_name}` is gated on head `{head}`, which reads `{reads}`: a value the loop does not update"),
            vec![p(at, format!("`{head}` reads `{reads}`, and the loop's passes end at `{source}`"))],
            Some(format!(
                "between passes the gate sees the loop's newest value only if its head reads it: loop from the port `{head}` reads (`loop {loop_name}: {reads} -> ...`), or gate on a head that reads `{source}`"
            )),
        ),
        LoopsOverlap { at, name, other, other_name } => (
            format!("loops `{name}` and `{other_name}` repeat some of the same layers"),
            vec![p(at, format!("loop `{name}`")), s(other, format!("loop `{other_name}`"))],
            Some("how one loop would repeat inside the other is not defined: give each loop layers of its own (loop over disjoint spans), or merge them into one".into()),
        ),
        MaskUnknownModality { at, modality, suggestion } => (
            format!("mask region names `{}`, which is not a stem", short(modality)),
            vec![p(at, "no stem has this name".into())],
            suggest(suggestion),
        ),
        RateOutOfRange { at, value } => (
            format!("rate {value:?} is outside [0, 1]"),
            vec![p(at, "must be within [0, 1]".into())],
            None,
        ),
        FutureTokenLeak { mask, region, modality, head, head_name, objective, objective_name, next_scale } => {
            let (message, help) = if *next_scale {
                (
                    format!("future-token leak: `{modality}` has `{region}`, whose positions see later scales, which were fed the codes head `{head_name}` predicts"),
                    format!("a `next_scale` stem attends by scale: remove `mask {modality}: {region}` and keep its `scales(...)`"),
                )
            } else if *region == "scales" {
                (
                    format!("future-token leak: `{modality}` has `scales`, whose positions see the rest of their scale, and head `{head_name}` predicts its next position"),
                    format!("keep `{modality}` causal (remove `mask {modality}: scales(...)`), or embed it with `next_scale(dim = d)` (VAR: each position is fed the scales before its own and predicts its own code)"),
                )
            } else if matches!(*objective_name, "masked_regression" | "diffusion") {
                (
                    if *region == "bidirectional" {
                        format!("future-token leak: `{modality}` is bidirectional and nothing in it is masked, so head `{head_name}` can copy what it regresses")
                    } else {
                        format!("future-token leak: `{modality}` has `{region}`, whose positions see later rows, and nothing in it is masked, so head `{head_name}` can copy what it regresses")
                    },
                    format!("add `mask {modality}: mask_tokens(rate = 0.0..1.0)` so the regressed positions are hidden"),
                )
            } else {
                (
                    format!("future-token leak: `{modality}` is bidirectional, and head `{head_name}` predicts its next position"),
                    format!("keep `{modality}` causal (remove `mask {modality}: bidirectional`), or use `prefix(len)` if only a prompt should see both ways"),
                )
            };
            (
                message,
                vec![
                    p(mask, "positions here see later positions".into()),
                    s(objective, format!("`{objective_name}` is trained here")),
                    s(head, format!("head `{head_name}`")),
                ],
                Some(help),
            )
        }
        NextScaleWithoutScales { at, stem, rows, scales } => {
            let mut labels = vec![p(at, format!("`next_scale` takes its scales from `{stem}`'s `scales(...)` mask"))];
            let help = match scales {
                Some((sides, span)) => {
                    let mut sum = 0u128;
                    let sums: Vec<String> = sides.iter().map(|s| { sum += u128::from(*s) * u128::from(*s); sum.to_string() }).collect();
                    labels.push(s(span, format!("its first scales cover {} positions", sums.join(", "))));
                    format!("the stem's {rows} rows must be the codes of the first scales: make its rows one of those counts, or change the sides")
                }
                None => format!("add `mask {stem}: scales(1, 2, ...)` whose sides' squares add up to {rows}"),
            };
            (format!("`next_scale` stem `{stem}` has {rows} rows, and no scales cover them exactly"), labels, Some(help))
        }
        BadScales { at, reason } => (format!("invalid mask region: {reason}"), vec![p(at, "this region".into())], None),
        NoObjective { at, head, kind } => (
            format!("head `{head}` has no objective"),
            vec![p(at, "nothing trains this head".into())],
            Some(format!(
                "add e.g. `objective: {}`",
                match kind.as_str() {
                    "text" => "next_token",
                    "codes" => "vq_ce",
                    "features" => "masked_regression(shift = 1)",
                    "diffusion" => "diffusion(layers = 3)",
                    _ => "classify",
                }
            )),
        ),
        TargetWithoutStem { at, target, needs, found_kind, candidates, suggestion } => {
            let message = match (target.is_empty(), found_kind, candidates.len()) {
                (true, _, 0) => format!("this head predicts a `{needs}` modality, but no `{needs}` stem exists"),
                (true, _, _) => format!(
                    "this head could predict any of {}: say which with `target = ...`",
                    candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                ),
                (false, Some(kind), _) => {
                    format!("target `{target}` is a `{kind}` stem, but this head predicts a `{needs}` modality")
                }
                (false, None, _) => format!("target `{}` is not a stem", short(target)),
            };
            (message, vec![p(at, format!("needs a `{needs}` stem"))], suggest(suggestion))
        }
        ObjectiveMismatch { at, objective, head_kind, expected } => (
            format!("{} head cannot train with `{objective}`", a(head_kind)),
            vec![p(at, format!("not an objective for {} head", a(head_kind)))],
            Some(format!("use {}", list(expected))),
        ),
        OutputLatentShared {
            text_head,
            text_head_name,
            consumer,
            consumer_name,
            value,
            value_name,
            allowed,
            text_head_has_blocks,
            ..
        } => {
            let mut labels = vec![
                p(consumer, format!("{consumer_name} reads it")),
                s(text_head, format!("text head `{text_head_name}`")),
                s(value, format!("the shared value: the output of `{value_name}`")),
            ];
            match allowed {
                Some(at) => {
                    labels.push(s(at, "allowed here".into()));
                    (
                        format!("{consumer_name} shares the output latent of text head `{text_head_name}` (allowed)"),
                        labels,
                        Some("allowed to keep this baseline expressible; the multi-layer-head designs give the text head a block of its own instead".into()),
                    )
                }
                None => {
                    let fix = if *text_head_has_blocks {
                        format!("read the value before `{text_head_name}`'s own blocks (`{text_head_name}.in`)")
                    } else {
                        format!("give head `{text_head_name}` a block of its own (`blocks: <block> x 1`)")
                    };
                    (
                        format!("{consumer_name} reads the output latent of text head `{text_head_name}`"),
                        labels,
                        Some(format!("{fix}, or allow it with `#[allow(output_latent_sharing)]`")),
                    )
                }
            }
        }
        TooManyParams { at, params, bytes, limit_bytes } => (
            format!("{params} parameters take {bytes} bytes at f32, over the limit of {limit_bytes}"),
            vec![p(at, "this model".into())],
            Some("shrink it with `--set` or `--smoke`, or raise `--max-params-bytes`".into()),
        ),
        TooManyBlocks { at, count, limit } => (
            format!("{count} blocks in the model is over the limit of {limit}"),
            vec![p(at, "the limit is passed here".into())],
            None,
        ),
        Poisoned => ("an error reported elsewhere".into(), Vec::new(), None),
    }
}
