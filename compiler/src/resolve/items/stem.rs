//! A stem: what data it reads, its adapter and its own blocks.

use super::*;

impl<'a, 'p> Ctx<'a, 'p> {
    pub(super) fn stem(
        &mut self,
        name: &str,
        span: Span,
        kind: &Call,
        body: Option<&Body>,
        errors: &mut Vec<Error>,
    ) -> Option<Stem> {
        let kname = choice(
            &kind.name.name,
            kind.name.span,
            "stem kind",
            &["tokens", "features", "codes"],
            errors,
        )?;
        let mut args = Args::new(kind);
        let p = &mut *self.params;
        let before = errors.len();
        let skind = match kname {
            "tokens" => {
                let vocab = args
                    .require(
                        "vocab",
                        Some(0),
                        "tokens(vocab = 50257, max_len = 1024)",
                        errors,
                    )
                    .and_then(|e| size(e, "a vocabulary size", p, errors));
                let max_len = args
                    .require(
                        "max_len",
                        Some(1),
                        "tokens(vocab = 50257, max_len = 1024)",
                        errors,
                    )
                    .and_then(|e| size(e, "a maximum length", p, errors));
                StemKind::Tokens {
                    vocab: vocab.unwrap_or(1),
                    max_len: max_len.unwrap_or(1),
                }
            }
            "features" => {
                let dim = args
                    .require("dim", Some(0), "features(dim = 1024, rows = 576)", errors)
                    .and_then(|e| size(e, "a feature width", p, errors));
                let rows = args
                    .require("rows", Some(1), "features(dim = 1024, rows = 576)", errors)
                    .and_then(|e| size(e, "a row count", p, errors));
                let frozen = args
                    .get("frozen", None)
                    .map_or(Some(true), |e| boolean(e, p, errors));
                StemKind::Features {
                    dim: dim.unwrap_or(1),
                    rows: rows.unwrap_or(1),
                    frozen: frozen.unwrap_or(true),
                }
            }
            _ => {
                let codebook = args
                    .require(
                        "codebook",
                        Some(0),
                        "codes(codebook = 16384, rows = 576)",
                        errors,
                    )
                    .and_then(|e| size(e, "a codebook size", p, errors));
                let rows = args
                    .require(
                        "rows",
                        Some(1),
                        "codes(codebook = 16384, rows = 576)",
                        errors,
                    )
                    .and_then(|e| size(e, "a row count", p, errors));
                StemKind::Codes {
                    codebook: codebook.unwrap_or(1),
                    rows: rows.unwrap_or(1),
                }
            }
        };
        args.finish(errors);
        let keys: &[&str] = match skind {
            StemKind::Features { .. } => &["positions", "adapter", "blocks", "from"],
            _ => &["embed", "positions", "adapter", "blocks", "from"],
        };
        let props = Props::new(format!("stem `{name}`"), span, body, keys, errors);
        let (vocab, default_len) = match skind {
            StemKind::Tokens { vocab, max_len } => (vocab, max_len),
            StemKind::Codes { codebook, rows } => (codebook, rows),
            StemKind::Features { rows, .. } => (0, rows),
        };
        let p = &mut *self.params;
        let embed = props.get("embed").and_then(|e| {
            let call = call_of(e, "", "`embedding(dim = d)`", errors)?;
            let next_scale = match call.name.name.as_str() {
                "embedding" => false,
                "next_scale" if matches!(skind, StemKind::Codes { .. }) => true,
                "next_scale" => {
                    errors.push(eval::wrong(
                        e,
                        "`embedding(dim = d)` (`next_scale` embeds a `codes` stem)",
                    ));
                    return None;
                }
                _ => {
                    errors.push(eval::wrong(
                        e,
                        if matches!(skind, StemKind::Codes { .. }) {
                            "`embedding(dim = d)` or `next_scale(dim = d)`"
                        } else {
                            "`embedding(dim = d)`"
                        },
                    ));
                    return None;
                }
            };
            let mut a = Args::new(&call);
            let dim = a
                .require("dim", Some(0), "embedding(dim = 768)", errors)
                .and_then(|d| size(d, "an embedding width", p, errors));
            let frozen = a
                .get("frozen", None)
                .map_or(Some(false), |f| boolean(f, p, errors));
            a.finish(errors);
            Some((
                Embedding {
                    vocab,
                    dim: dim?,
                    frozen: frozen?,
                    next_scale,
                },
                e.span,
            ))
        });
        if embed.is_none()
            && props.get("embed").is_none()
            && !matches!(skind, StemKind::Features { .. })
        {
            errors.push(Error::MissingKey {
                at: span,
                key: "embed",
                item: format!("stem `{name}`"),
                example: "embed: embedding(dim = d)",
            });
        }
        let positions = props.get("positions").and_then(|e| {
            let call = call_of(e, "learned", "`learned(max_len = 1024)`", errors)?;
            let mut a = Args::new(&call);
            let len = match a.get("max_len", Some(0)) {
                Some(l) => {
                    let len = size(l, "a maximum length", p, errors)?;
                    // Every position the stem holds needs a row of the table.
                    if len < default_len {
                        errors.push(Error::PositionsTooShort {
                            at: l.span,
                            stem: name.to_string(),
                            max_len: len,
                            rows: default_len,
                        });
                    }
                    len
                }
                None => default_len,
            };
            a.finish(errors);
            Some((len, e.span))
        });
        let adapter = props
            .get("adapter")
            .and_then(|e| mlp_stack(e, p, errors).map(|m| (m, e.span)));
        let blocks = props
            .get("blocks")
            .map(|e| self.blocks(e, errors))
            .unwrap_or_default();
        // A stem is where the model's data comes in: a hidden state is transformed by a
        // `layer`, which the output-latent rule and the unused checks see.
        if let Some(e) = props.get("from") {
            errors.push(Error::BadPort {
                at: e.span,
                path: match &e.kind {
                    ExprKind::Path(p) => p.text(),
                    _ => String::new(),
                },
                reason: "a stem reads the model's data, not a port: transform a hidden state with a `layer` (`layer NAME: mlp(...) { from: PORT }`)".into(),
            });
        }
        if errors.len() > before {
            return None;
        }
        Some(Stem {
            name: name.to_string(),
            span,
            kind: skind,
            embed,
            positions,
            adapter,
            blocks,
        })
    }
}
