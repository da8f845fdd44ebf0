//! The last check of an IR document: the graph its layers rebuild into must be the graph
//! it holds. Everything an IR states beyond its layers' own values (widths, rows, edges,
//! derived sizes) is redundant; a hand edit that changes one copy and not the others is
//! reported at the copy that disagrees, and so is a field no reader knows.

use super::read::{describe, Seg, Spanned, Yaml};
use super::Ir;
use crate::diag::Error;
use serde_json::Value;

/// Differences between the document (`doc`, read as `theirs`) and the IR its layers
/// rebuild into (`ours`), each at its place in the document.
pub fn compare(doc: &Spanned, theirs: &Ir, ours: &Ir) -> Vec<Error> {
    let mut errors = Vec::new();
    // The small fields as one JSON value each side; nodes and edges one at a time (as
    // whole-document values they held most of the memory of reading a large IR).
    let b = head(theirs);
    unknown_fields(doc, &b, &mut Vec::new(), &mut errors);
    unknown_in_list(doc, "nodes", &theirs.nodes, &mut errors);
    unknown_in_list(doc, "edges", &theirs.edges, &mut errors);
    let a = head(ours);
    for k in ["schema", "model", "params", "masks"] {
        diff(doc, &[Seg::Key(k.into())], &a[k], &b[k], &mut errors);
    }
    lints(doc, theirs, ours, &mut errors);
    nodes(doc, &ours.nodes, &theirs.nodes, &mut errors);
    if errors.is_empty() {
        edges(doc, theirs, ours, &mut errors);
    }
    errors
}

fn to_value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// Unknown keys in each item of the document's list `key`, against the typed `items`.
fn unknown_in_list<T: serde::Serialize>(
    doc: &Spanned,
    key: &str,
    items: &[T],
    errors: &mut Vec<Error>,
) {
    let Some(Spanned {
        value: Yaml::Seq(values),
        ..
    }) = doc.get(&[Seg::Key(key.into())])
    else {
        return;
    };
    for (i, (v, item)) in values.iter().zip(items).enumerate() {
        let mut path = vec![Seg::Key(key.into()), Seg::Index(i)];
        unknown_fields(v, &to_value(item), &mut path, errors);
    }
}

/// An IR's fields other than its nodes and edges (which stand as empty lists).
fn head(ir: &Ir) -> Value {
    serde_json::json!({
        "schema": ir.schema,
        "model": ir.model,
        "params": to_value(&ir.params),
        "lints": to_value(&ir.lints),
        "masks": to_value(&ir.masks),
        "nodes": [],
        "edges": [],
    })
}

/// Keys of the document that the IR has no field for (serde passes over them).
fn unknown_fields(doc: &Spanned, known: &Value, path: &mut Vec<Seg>, errors: &mut Vec<Error>) {
    match (&doc.value, known) {
        (Yaml::Map(m), Value::Object(k)) => {
            for (key, span, v) in m {
                match k.get(key) {
                    Some(inner) => {
                        path.push(Seg::Key(key.clone()));
                        unknown_fields(v, inner, path, errors);
                        path.pop();
                    }
                    None => errors.push(Error::IrMalformed {
                        at: *span,
                        reason: format!(
                            "{} has no field `{key}`: no command would read it",
                            describe(path)
                        ),
                        first: None,
                    }),
                }
            }
        }
        (Yaml::Seq(s), Value::Array(k)) => {
            for (i, (v, inner)) in s.iter().zip(k).enumerate() {
                path.push(Seg::Index(i));
                unknown_fields(v, inner, path, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Every leaf where `ours` (what the layers give) and `theirs` (the document) differ.
fn diff(doc: &Spanned, path: &[Seg], ours: &Value, theirs: &Value, errors: &mut Vec<Error>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b))
            if a.get("kind") == b.get("kind") && a.get("op") == b.get("op") =>
        {
            for (k, va) in a {
                let mut p = path.to_vec();
                p.push(Seg::Key(k.clone()));
                diff(doc, &p, va, b.get(k).unwrap_or(&Value::Null), errors);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                let mut p = path.to_vec();
                p.push(Seg::Index(i));
                diff(doc, &p, va, vb, errors);
            }
        }
        (a, b) if a == b => {}
        (a, b) => errors.push(Error::IrInconsistent {
            at: doc.span_at(path),
            field: describe(path),
            reason: format!("is {}, but the layers give {}", shown(b), shown(a)),
        }),
    }
}

fn shown(v: &Value) -> String {
    let s = match v {
        Value::Null => "missing".to_string(),
        Value::String(s) => format!("`{s}`"),
        Value::Array(a) => format!("a list of {}", a.len()),
        Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
        v => v.to_string(),
    };
    let mut end = s.len().min(120);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// Lints compare as a set (a file lists them in its items' order, which the IR does not
/// keep); the rebuilt graph takes the document's order afterwards.
fn lints(doc: &Spanned, theirs: &Ir, ours: &Ir, errors: &mut Vec<Error>) {
    let key = |l: &super::IrLint| (l.lint.clone(), l.level.clone(), l.item.clone());
    let mut left = Multiset::new(ours.lints.iter().map(key));
    for (i, l) in theirs.lints.iter().enumerate() {
        match left.take(&key(l)) {
            Some(_) => {}
            None => errors.push(Error::IrInconsistent {
                at: doc.span_at(&[Seg::Key("lints".into()), Seg::Index(i)]),
                field: describe(&[Seg::Key("lints".into()), Seg::Index(i)]),
                reason: match &l.item {
                    Some(item) => format!("names item `{item}`, which is not in the model (or is not a lint this archc knows)"),
                    None => "is not a lint this archc knows".into(),
                },
            }),
        }
    }
}

/// Nodes must come in the order the layers give them; then every field must agree.
fn nodes(
    doc: &Spanned,
    a: &[crate::graph::Node],
    b: &[crate::graph::Node],
    errors: &mut Vec<Error>,
) {
    for i in 0..a.len().max(b.len()) {
        let p = [Seg::Key("nodes".into()), Seg::Index(i)];
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x.path == y.path => {
                diff(doc, &p, &to_value(x), &to_value(y), errors)
            }
            (Some(x), Some(y)) => {
                errors.push(Error::IrInconsistent {
                    at: doc.span_at(&[p[0].clone(), p[1].clone(), Seg::Key("path".into())]),
                    field: describe(&p),
                    reason: format!(
                        "is `{}`, but the layers give `{}` here (an IR lists its nodes in the order archc writes them)",
                        y.path, x.path
                    ),
                });
                return;
            }
            (Some(x), None) => {
                errors.push(Error::IrInconsistent {
                    at: doc.span_at(&[Seg::Key("nodes".into())]),
                    field: "`nodes`".into(),
                    reason: format!(
                        "end at {i} nodes, but the layers give `{}` after them",
                        x.path
                    ),
                });
                return;
            }
            (None, Some(y)) => {
                errors.push(Error::IrInconsistent {
                    at: doc.span_at(&p),
                    field: describe(&p),
                    reason: format!("is `{}`, a node no layer gives", y.path),
                });
                return;
            }
            (None, None) => return,
        }
    }
}

/// Edges compare by what they join (the nodes' paths) and what they are; a document may
/// list them in any order.
fn edges(doc: &Spanned, theirs: &Ir, ours: &Ir, errors: &mut Vec<Error>) {
    let name = |ir: &Ir, i: usize| ir.nodes[i].path.clone();
    let kind = |e: &super::IrEdge| serde_json::to_value(&e.kind).unwrap_or(Value::Null);
    let tag = |e: &super::IrEdge| kind(e)["kind"].as_str().unwrap_or("").to_string();
    let mut left = Multiset::new(
        ours.edges
            .iter()
            .map(|e| (name(ours, e.from), name(ours, e.to), tag(e))),
    );
    for (j, e) in theirs.edges.iter().enumerate() {
        let (from, to, t) = (name(theirs, e.from), name(theirs, e.to), tag(e));
        let p = [Seg::Key("edges".into()), Seg::Index(j)];
        let joined = (from, to, t);
        match left.take(&joined) {
            Some(i) => {
                let want = kind(&ours.edges[i]);
                let got = kind(e);
                if got != want {
                    let mut d = Vec::new();
                    diff(doc, &p, &want, &got, &mut d);
                    errors.extend(d);
                }
            }
            None => {
                let (from, to, t) = joined;
                errors.push(Error::IrInconsistent {
                    at: doc.span_at(&p),
                    field: describe(&p),
                    reason: format!("joins `{from}` to `{to}` ({t}), and no layer reads that"),
                })
            }
        }
    }
    for (from, to, t) in left.rest() {
        errors.push(Error::IrInconsistent {
            at: doc.key_span(&[], "edges").unwrap_or(doc.span),
            field: "`edges`".into(),
            reason: format!("lack the {t} edge from `{from}` to `{to}` that the layers give"),
        });
    }
}

/// Keys that may repeat, each taken once, first come first served (a hash map of queues:
/// comparing n edges is linear, not n²).
struct Multiset<K> {
    keys: Vec<K>,
    taken: Vec<bool>,
    queues: std::collections::HashMap<K, std::collections::VecDeque<usize>>,
}

impl<K: Clone + Eq + std::hash::Hash> Multiset<K> {
    fn new(keys: impl Iterator<Item = K>) -> Self {
        let keys: Vec<K> = keys.collect();
        let mut queues: std::collections::HashMap<K, std::collections::VecDeque<usize>> =
            Default::default();
        for (i, k) in keys.iter().enumerate() {
            queues.entry(k.clone()).or_default().push_back(i);
        }
        Multiset {
            taken: vec![false; keys.len()],
            keys,
            queues,
        }
    }

    /// The index of the first untaken `k`, now taken.
    fn take(&mut self, k: &K) -> Option<usize> {
        let i = self.queues.get_mut(k)?.pop_front()?;
        self.taken[i] = true;
        Some(i)
    }

    /// The keys never taken, in their order.
    fn rest(self) -> impl Iterator<Item = K> {
        self.keys
            .into_iter()
            .zip(self.taken)
            .filter(|(_, t)| !t)
            .map(|(k, _)| k)
    }
}
