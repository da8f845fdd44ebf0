//! Reading properties (`key: value`) and call arguments (`name = value`) against a
//! schema: unknown keys get a did-you-mean, duplicates and type errors a location.

use crate::ast::{Body, Call, Expr, ExprKind};
use crate::diag::Error;
use crate::eval::{self, Scope, Value};
use crate::span::Span;
use crate::suggest::did_you_mean;

/// The properties of one body, checked against the keys an item accepts.
pub struct Props<'a> {
    pub item: String,
    pub span: Span,
    entries: Vec<(&'a str, &'a Expr, Span)>,
}

impl<'a> Props<'a> {
    pub fn new(
        item: String,
        span: Span,
        body: Option<&'a Body>,
        allowed: &[&'static str],
        errors: &mut Vec<Error>,
    ) -> Self {
        let mut entries: Vec<(&'a str, &'a Expr, Span)> = Vec::new();
        for p in body.map(|b| b.props.as_slice()).unwrap_or_default() {
            let key = p.key.name.as_str();
            if !allowed.contains(&key) {
                errors.push(Error::UnknownKey {
                    at: p.key.span,
                    key: key.to_string(),
                    item: item.clone(),
                    expected: allowed.to_vec(),
                    suggestion: did_you_mean(key, allowed.iter().copied()),
                });
            } else if let Some(first) = entries.iter().find(|e| e.0 == key) {
                errors.push(Error::Duplicate {
                    at: p.key.span,
                    first: first.2,
                    name: key.to_string(),
                    what: "property",
                });
            } else {
                entries.push((key, &p.value, p.key.span));
            }
        }
        Props {
            item,
            span,
            entries,
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Expr> {
        self.entries.iter().find(|e| e.0 == key).map(|e| e.1)
    }

    pub fn require(
        &self,
        key: &'static str,
        example: &'static str,
        errors: &mut Vec<Error>,
    ) -> Option<&'a Expr> {
        let found = self.get(key);
        if found.is_none() {
            errors.push(Error::MissingKey {
                at: self.span,
                key,
                item: self.item.clone(),
                example,
            });
        }
        found
    }
}

/// The arguments of one call, positional or named, checked against the names it accepts.
pub struct Args<'a> {
    pub call: &'a Call,
    known: Vec<&'static str>,
    used: Vec<bool>,
}

impl<'a> Args<'a> {
    pub fn new(call: &'a Call) -> Self {
        Args {
            call,
            known: Vec::new(),
            used: vec![false; call.args.len()],
        }
    }

    /// The argument called `name`, or the one at `position` if it is unnamed.
    pub fn get(&mut self, name: &'static str, position: Option<usize>) -> Option<&'a Expr> {
        self.known.push(name);
        for (i, a) in self.call.args.iter().enumerate() {
            let hit = match &a.name {
                Some(n) => n.name == name,
                None => Some(i) == position,
            };
            if hit && !self.used[i] {
                self.used[i] = true;
                return Some(&a.value);
            }
        }
        None
    }

    pub fn require(
        &mut self,
        name: &'static str,
        position: Option<usize>,
        example: &'static str,
        errors: &mut Vec<Error>,
    ) -> Option<&'a Expr> {
        let found = self.get(name, position);
        if found.is_none() {
            errors.push(Error::MissingKey {
                at: self.call.span,
                key: name,
                item: format!("`{}(...)`", self.call.name.name),
                example,
            });
        }
        found
    }

    /// Reports every argument no `get` asked for.
    pub fn finish(self, errors: &mut Vec<Error>) {
        for (i, a) in self.call.args.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let (at, key) = match &a.name {
                Some(n) => (n.span, n.name.clone()),
                None => (a.value.span, format!("argument {}", i + 1)),
            };
            errors.push(Error::UnknownKey {
                at,
                suggestion: a
                    .name
                    .as_ref()
                    .and_then(|n| did_you_mean(&n.name, self.known.iter().copied())),
                key,
                item: format!("`{}(...)`", self.call.name.name),
                expected: self.known.clone(),
            });
        }
    }
}

/// Views an expression as a call: `gelu(hidden = 4)` is one, and so is a bare `gelu`.
pub fn as_call(e: &Expr) -> Option<Call> {
    match &e.kind {
        ExprKind::Call(c) => Some(c.clone()),
        ExprKind::Paren(inner) => as_call(inner),
        ExprKind::Path(p) => p.single().map(|n| Call {
            name: n.clone(),
            args: Vec::new(),
            span: e.span,
        }),
        _ => None,
    }
}

/// One of a fixed set of names; an unknown one gets the choices and a suggestion.
pub fn choice(
    name: &str,
    at: Span,
    what: &'static str,
    choices: &[&'static str],
    errors: &mut Vec<Error>,
) -> Option<&'static str> {
    if let Some(c) = choices.iter().find(|c| **c == name) {
        return Some(c);
    }
    errors.push(Error::UnknownOption {
        at,
        found: name.to_string(),
        what,
        choices: choices.to_vec(),
        suggestion: did_you_mean(name, choices.iter().copied()),
    });
    None
}

pub fn int(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<i64> {
    match eval::eval(e, scope) {
        Ok(Value::Int(i)) => Some(i),
        Ok(v) => {
            errors.push(Error::WrongType {
                at: e.span,
                expected: "an integer".into(),
                found: v.type_name().into(),
            });
            None
        }
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

/// A count that may be zero: an integer >= 0.
pub fn non_negative_int(
    e: &Expr,
    what: &str,
    scope: &mut dyn Scope,
    errors: &mut Vec<Error>,
) -> Option<u64> {
    let i = int(e, scope, errors)?;
    if i < 0 {
        errors.push(Error::NotPositive {
            at: e.span,
            what: what.to_string(),
            value: i.to_string(),
            zero_ok: true,
        });
        return None;
    }
    Some(i as u64)
}

/// A size: an integer > 0.
pub fn size(e: &Expr, what: &str, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<u64> {
    let i = int(e, scope, errors)?;
    if i <= 0 {
        errors.push(Error::NotPositive {
            at: e.span,
            what: what.to_string(),
            value: i.to_string(),
            zero_ok: false,
        });
        return None;
    }
    Some(i as u64)
}

pub fn float(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<f64> {
    match eval::eval(e, scope) {
        Ok(v) => match v.as_f64() {
            Some(f) => Some(f),
            None => {
                errors.push(Error::WrongType {
                    at: e.span,
                    expected: "a number".into(),
                    found: v.type_name().into(),
                });
                None
            }
        },
        Err(err) => {
            errors.push(err);
            None
        }
    }
}

pub fn boolean(e: &Expr, scope: &mut dyn Scope, errors: &mut Vec<Error>) -> Option<bool> {
    match eval::eval(e, scope) {
        Ok(Value::Bool(b)) => Some(b),
        Ok(v) => {
            errors.push(Error::WrongType {
                at: e.span,
                expected: "`true` or `false`".into(),
                found: v.type_name().into(),
            });
            None
        }
        Err(err) => {
            errors.push(err);
            None
        }
    }
}
