//! Reading an IR document back with the place of every value: YAML (or JSON, which is
//! YAML) parsed into a tree of values that keep their byte spans, then into the typed
//! [`Ir`]. Every way a document can fail to be an IR is a diagnostic located in it.

use super::{Ir, IR_SCHEMA};
use crate::diag::Error;
use crate::span::Span;
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

/// A YAML value and the span of its text.
#[derive(Clone, Debug)]
pub struct Spanned {
    pub value: Yaml,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned>),
    /// Keys are strings (an IR has no other keys), each with its span.
    Map(Vec<(String, Span, Spanned)>),
}

/// One step of a path into a document: a map key or a list index.
#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Spanned {
    /// The value at `path`, if every step exists.
    pub fn get(&self, path: &[Seg]) -> Option<&Spanned> {
        let mut at = self;
        for seg in path {
            at = match (&at.value, seg) {
                (Yaml::Map(m), Seg::Key(k)) => &m.iter().find(|(key, _, _)| key == k)?.2,
                (Yaml::Seq(s), Seg::Index(i)) => s.get(*i)?,
                _ => return None,
            };
        }
        Some(at)
    }

    /// The span of the value at `path`, or of the deepest value on the way to it.
    pub fn span_at(&self, path: &[Seg]) -> Span {
        let mut at = self;
        for seg in path {
            let next = match (&at.value, seg) {
                (Yaml::Map(m), Seg::Key(k)) => m.iter().find(|(key, _, _)| key == k).map(|e| &e.2),
                (Yaml::Seq(s), Seg::Index(i)) => s.get(*i),
                _ => None,
            };
            match next {
                Some(n) => at = n,
                None => break,
            }
        }
        at.span
    }

    /// The span of the key `key` of the map at `path` (the value's own span if not a map).
    pub fn key_span(&self, path: &[Seg], key: &str) -> Option<Span> {
        match &self.get(path)?.value {
            Yaml::Map(m) => m.iter().find(|(k, _, _)| k == key).map(|e| e.1),
            _ => None,
        }
    }
}

/// Parses the text of an IR document, its schema checked before anything else.
pub fn yaml_to_spanned(text: &str) -> Result<Spanned, Error> {
    // Events are read as the tree is built (holding them all first took more memory than
    // the tree); a syntax error anywhere in the text comes before any other mistake.
    let mut it = Events {
        parser: Parser::new_from_str(text),
        bytes: ByteOffsets::new(text),
        text_len: text.len(),
        peeked: None,
        error: None,
    };
    let mut doc = None;
    let mut result = Ok(());
    while let Some((e, span)) = it.next() {
        let step = match e {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) if doc.is_none() => node(&mut it, text).map(|d| doc = Some(d)),
            Event::DocumentStart(_) => {
                Err(malformed(span, "a second document: an IR is one document"))
            }
            _ => Err(malformed(span, "not a YAML document")),
        };
        if let Err(e) = step {
            result = Err(e);
            break;
        }
    }
    while it.next().is_some() {}
    if let Some(e) = it.error.take() {
        return Err(e);
    }
    result?;
    doc.ok_or_else(|| malformed(Span::point(0), "the file is empty"))
}

/// The parser's events with their byte spans, one looked ahead; stops at the first
/// syntax error, which it keeps.
struct Events<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    bytes: ByteOffsets,
    text_len: usize,
    peeked: Option<(Event<'a>, Span)>,
    error: Option<Error>,
}

impl<'a> Events<'a> {
    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        if let Some(p) = self.peeked.take() {
            return Some(p);
        }
        if self.error.is_some() {
            return None;
        }
        match self.parser.next()? {
            Ok((e, span)) => {
                let lo = self.bytes.of(span.start.index());
                let hi = self.bytes.of(span.end.index()).max(lo);
                Some((e, Span::new(lo, hi)))
            }
            Err(e) => {
                let at = self.bytes.of(e.marker().index());
                self.error = Some(malformed(
                    Span::new(at, at + 1).within(self.text_len),
                    e.info(),
                ));
                None
            }
        }
    }

    fn peek(&mut self) -> Option<&(Event<'a>, Span)> {
        if self.peeked.is_none() {
            self.peeked = self.next();
        }
        self.peeked.as_ref()
    }
}

fn node(it: &mut Events, text: &str) -> Result<Spanned, Error> {
    let Some((e, span)) = it.next() else {
        return Err(malformed(
            Span::point(text.len()),
            "the document ends early",
        ));
    };
    match e {
        Event::Scalar(v, style, _, tag) => {
            let tagged_str = tag
                .as_ref()
                .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
            let value = if style == ScalarStyle::Plain && !tagged_str {
                plain(&v)
            } else {
                Yaml::Str(v.into_owned())
            };
            Ok(Spanned { value, span })
        }
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match it.peek() {
                    Some((Event::SequenceEnd, end)) => {
                        let end = *end;
                        it.next();
                        return Ok(Spanned {
                            value: Yaml::Seq(items),
                            span: trimmed(text, span.to(end)),
                        });
                    }
                    Some(_) => items.push(node(it, text)?),
                    None => return Err(malformed(span, "a list that never ends")),
                }
            }
        }
        Event::MappingStart(..) => {
            let mut entries: Vec<(String, Span, Spanned)> = Vec::new();
            // Keys seen, for the repeated-key check (a map may be hostile and long).
            let mut seen: std::collections::HashMap<String, Span> = Default::default();
            loop {
                match it.peek() {
                    Some((Event::MappingEnd, end)) => {
                        let end = *end;
                        it.next();
                        return Ok(Spanned {
                            value: Yaml::Map(entries),
                            span: trimmed(text, span.to(end)),
                        });
                    }
                    Some(_) => {
                        let key = node(it, text)?;
                        let name = match key.value {
                            Yaml::Str(s) => s,
                            Yaml::Int(i) => i.to_string(),
                            Yaml::Bool(b) => b.to_string(),
                            _ => return Err(malformed(key.span, "a key that is not a name")),
                        };
                        if let Some(first) = seen.get(&name) {
                            return Err(Error::IrMalformed {
                                at: key.span,
                                reason: format!("the key `{name}` appears twice in one map"),
                                first: Some(*first),
                            });
                        }
                        seen.insert(name.clone(), key.span);
                        let value = node(it, text)?;
                        entries.push((name, key.span, value));
                    }
                    None => return Err(malformed(span, "a map that never ends")),
                }
            }
        }
        Event::Alias(_) => Err(malformed(
            span,
            "an alias (`*name`): write the value out, an IR has no anchors",
        )),
        _ => Err(malformed(span, "not a value")),
    }
}

/// A block collection's span ends where the next item starts: end it at its own last
/// character instead.
fn trimmed(text: &str, span: Span) -> Span {
    let hi = span.hi.min(text.len());
    let end = text[span.lo.min(hi)..hi].trim_end().len();
    Span::new(span.lo, span.lo + end)
}

/// A plain scalar read by YAML 1.2's core schema: null, booleans, integers, floats,
/// anything else a string.
fn plain(s: &str) -> Yaml {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Yaml::Null,
        "true" | "True" | "TRUE" => return Yaml::Bool(true),
        "false" | "False" | "FALSE" => return Yaml::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Yaml::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Yaml::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Yaml::Float(f64::NAN),
        _ => {}
    }
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned, 10) {
        if let Ok(i) = s.parse::<i128>() {
            return Yaml::Int(i);
        }
        return Yaml::Float(s.parse().unwrap_or(f64::INFINITY));
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8)] {
        if let Some(t) = s.strip_prefix(prefix).filter(|t| digits(t, radix)) {
            if let Ok(i) = i128::from_str_radix(t, radix) {
                return Yaml::Int(i);
            }
        }
    }
    let float_like = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && s.chars().any(|c| c.is_ascii_digit());
    match s.parse::<f64>() {
        Ok(f) if float_like => Yaml::Float(f),
        _ => Yaml::Str(s.to_string()),
    }
}

fn malformed(at: Span, reason: &str) -> Error {
    Error::IrMalformed {
        at,
        reason: reason.to_string(),
        first: None,
    }
}

/// The document as JSON, for serde (numbers that JSON cannot hold are diagnostics).
pub fn to_json(v: &Spanned) -> Result<Value, Error> {
    Ok(match &v.value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Int(i) => match (u64::try_from(*i), i64::try_from(*i)) {
            (Ok(u), _) => Value::from(u),
            (_, Ok(s)) => Value::from(s),
            _ => return Err(malformed(v.span, "an integer larger than 64 bits hold")),
        },
        Yaml::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => return Err(malformed(v.span, "a number that is not finite")),
        },
        Yaml::Str(s) => Value::String(s.clone()),
        Yaml::Seq(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, _, val) in m {
                out.insert(k.clone(), to_json(val)?);
            }
            Value::Object(out)
        }
    })
}

/// The typed IR of a parsed document: its schema first, then its shape, each mistake
/// located (a wrong type at its value, a missing field at the map that lacks it).
pub fn spanned_to_ir(doc: &Spanned) -> Result<Ir, Error> {
    if !matches!(doc.value, Yaml::Map(_)) {
        return Err(malformed(
            doc.span,
            "the document is not a map of the IR's fields (`schema`, `model`, `params`, `nodes`, ...)",
        ));
    }
    let schema = doc.get(&[Seg::Key("schema".into())]);
    match schema.map(|s| &s.value) {
        Some(Yaml::Int(n)) if *n == i128::from(IR_SCHEMA) => {}
        Some(Yaml::Int(n)) => {
            return Err(Error::IrSchema {
                at: schema.map_or(doc.span, |s| s.span),
                found: n.to_string(),
                expected: IR_SCHEMA,
            })
        }
        _ => {
            return Err(Error::IrSchema {
                at: schema.map_or(Span::new(doc.span.lo, doc.span.lo), |s| s.span),
                found: schema.map_or("none".into(), |_| "not a number".into()),
                expected: IR_SCHEMA,
            })
        }
    }
    let json = to_json(doc)?;
    let ir: Ir = serde_path_to_error::deserialize(json).map_err(|e| {
        let path: Vec<Seg> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                _ => None,
            })
            .collect();
        let inner = e.inner().to_string();
        let at = doc
            .get(&path)
            .map_or(doc.span_at(&path), |v| narrowed(v, &inner));
        Error::IrMalformed {
            at,
            reason: format!("{}: {inner}", describe(&path)),
            first: None,
        }
    })?;
    for (i, e) in ir.edges.iter().enumerate() {
        for (field, node) in [("from", e.from), ("to", e.to)] {
            if node >= ir.nodes.len() {
                let path = [
                    Seg::Key("edges".into()),
                    Seg::Index(i),
                    Seg::Key(field.into()),
                ];
                return Err(Error::IrMalformed {
                    at: doc.span_at(&path),
                    reason: format!(
                        "edge {i} names node {node}, but the IR has {} nodes (0 to {})",
                        ir.nodes.len(),
                        ir.nodes.len().saturating_sub(1)
                    ),
                    first: None,
                });
            }
        }
    }
    Ok(ir)
}

/// serde cannot follow a path into an internally tagged enum (a node's `kind`), so an
/// error there names the whole map; when its message quotes the offending value
/// (``invalid type: floating point `16.5` ``, ``unknown variant `foo` ``), point at the
/// scalar in the map that holds it.
fn narrowed(v: &Spanned, message: &str) -> Span {
    let quoted = message.split('`').nth(1).filter(|q| !q.is_empty());
    let Some(q) = quoted else { return v.span };
    fn find(v: &Spanned, q: &str) -> Option<Span> {
        match &v.value {
            Yaml::Map(m) => m.iter().find_map(|(_, _, x)| find(x, q)),
            Yaml::Seq(s) => s.iter().find_map(|x| find(x, q)),
            Yaml::Str(s) if s == q => Some(v.span),
            Yaml::Int(i) if i.to_string() == q => Some(v.span),
            Yaml::Float(f) if f.to_string() == q || format!("{f:?}") == q => Some(v.span),
            Yaml::Bool(b) if b.to_string() == q => Some(v.span),
            _ => None,
        }
    }
    find(v, q).unwrap_or(v.span)
}

/// `nodes[3].kind.heads` for messages.
pub fn describe(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        "the document".into()
    } else {
        format!("`{out}`")
    }
}

/// Char indices (what the YAML parser reports) to byte offsets.
struct ByteOffsets {
    /// Byte offset of every char, and the text's length at the end; empty for ASCII.
    starts: Vec<usize>,
    len: usize,
}

impl ByteOffsets {
    fn new(text: &str) -> Self {
        let starts = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        ByteOffsets {
            starts,
            len: text.len(),
        }
    }

    fn of(&self, chars: usize) -> usize {
        if self.starts.is_empty() {
            chars.min(self.len)
        } else {
            self.starts.get(chars).copied().unwrap_or(self.len)
        }
    }
}

trait Within {
    fn within(self, len: usize) -> Span;
}

impl Within for Span {
    fn within(self, len: usize) -> Span {
        Span::new(self.lo.min(len), self.hi.min(len))
    }
}
