//! Evaluating expressions: checked integer arithmetic, floats, and the few functions
//! the language has. Every failure is a diagnostic, never a panic.

use crate::ast::{BinOp, Expr, ExprKind};
use crate::diag::Error;
use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::Bool(_) => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Looks up a plain name (a parameter or a block argument).
pub trait Scope {
    fn lookup(&mut self, name: &str, at: Span) -> Result<Value, Error>;
}

/// Evaluates a numeric or boolean expression.
pub fn eval(e: &Expr, scope: &mut dyn Scope) -> Result<Value, Error> {
    // Parameters defined by parameters recurse through here; grow the stack on the heap
    // rather than trust the caller's thread (the depth itself is bounded by resolve).
    stacker::maybe_grow(64 * 1024, 2 * 1024 * 1024, || eval_inner(e, scope))
}

fn eval_inner(e: &Expr, scope: &mut dyn Scope) -> Result<Value, Error> {
    match &e.kind {
        ExprKind::Int(i) => Ok(Value::Int(*i)),
        ExprKind::Float(f) => Ok(Value::Float(*f)),
        ExprKind::Paren(inner) => eval(inner, scope),
        ExprKind::Path(p) => match p.single().map(|i| i.name.as_str()) {
            Some("true") => Ok(Value::Bool(true)),
            Some("false") => Ok(Value::Bool(false)),
            Some(name) => scope.lookup(name, e.span),
            None => Err(wrong(e, "a number")),
        },
        ExprKind::Neg(inner) => match eval(inner, scope)? {
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or(Error::Overflow {
                at: e.span,
                op: "-",
            }),
            Value::Float(f) => Ok(Value::Float(-f)),
            v @ Value::Bool(_) => Err(Error::WrongType {
                at: inner.span,
                expected: "a number".into(),
                found: v.type_name().into(),
            }),
        },
        ExprKind::Binary(op, l, r) => {
            let a = eval(l, scope)?;
            let b = eval(r, scope)?;
            binary(*op, a, b, l.span, r.span, e.span)
        }
        ExprKind::Call(c) => {
            let f = c.name.name.as_str();
            if !matches!(f, "min" | "max" | "ceil_div") {
                return Err(wrong(e, "a number"));
            }
            if c.args.len() != 2 || c.args.iter().any(|a| a.name.is_some()) {
                return Err(Error::WrongType {
                    at: c.span,
                    expected: format!("`{f}(a, b)` with two unnamed arguments"),
                    found: format!("{} argument(s)", c.args.len()),
                });
            }
            let a = eval(&c.args[0].value, scope)?;
            let b = eval(&c.args[1].value, scope)?;
            match (f, a, b) {
                ("min", Value::Int(x), Value::Int(y)) => Ok(Value::Int(x.min(y))),
                ("max", Value::Int(x), Value::Int(y)) => Ok(Value::Int(x.max(y))),
                ("ceil_div", Value::Int(_), Value::Int(0)) => Err(Error::DivisionByZero {
                    at: c.args[1].value.span,
                }),
                ("ceil_div", Value::Int(x), Value::Int(y)) => {
                    let q = x.checked_div(y).ok_or(Error::Overflow {
                        at: e.span,
                        op: "ceil_div",
                    })?;
                    let r = x % y;
                    Ok(Value::Int(if r != 0 && ((r > 0) == (y > 0)) {
                        q + 1
                    } else {
                        q
                    }))
                }
                ("min" | "max", x, y) => match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => {
                        Ok(Value::Float(if f == "min" { x.min(y) } else { x.max(y) }))
                    }
                    _ => Err(Error::WrongType {
                        at: c.span,
                        expected: "numbers".into(),
                        found: "a boolean".into(),
                    }),
                },
                (_, x, y) => Err(Error::WrongType {
                    at: c.span,
                    expected: "two integers".into(),
                    found: format!("{} and {}", x.type_name(), y.type_name()),
                }),
            }
        }
        ExprKind::Error => Err(Error::WrongType {
            at: e.span,
            expected: "a number".into(),
            found: "an invalid literal".into(),
        }),
        _ => Err(wrong(e, "a number")),
    }
}

/// What an expression looks like, for "expected X, found Y" messages.
pub fn describe(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(_) => "an integer".into(),
        ExprKind::Float(_) => "a float".into(),
        ExprKind::Str(_) => "a string".into(),
        ExprKind::Path(p) if p.segments.len() > 1 => format!("the path `{}`", p.text()),
        ExprKind::Path(p) => format!("the name `{}`", p.text()),
        ExprKind::Call(c) => format!("a call to `{}`", c.name.name),
        ExprKind::List(_) => "a list".into(),
        ExprKind::Range(..) => "a range".into(),
        ExprKind::Repeat(..) => "a repetition (`x`)".into(),
        ExprKind::Paren(inner) => describe(inner),
        _ => "an expression".into(),
    }
}

pub fn wrong(e: &Expr, expected: &str) -> Error {
    Error::WrongType {
        at: e.span,
        expected: expected.into(),
        found: describe(e),
    }
}

fn binary(op: BinOp, a: Value, b: Value, la: Span, lb: Span, at: Span) -> Result<Value, Error> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let r = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Div | BinOp::Rem if y == 0 => return Err(Error::DivisionByZero { at: lb }),
                BinOp::Div => {
                    if x.checked_rem(y).is_some_and(|r| r != 0) {
                        return Err(Error::InexactDivision { at, lhs: x, rhs: y });
                    }
                    x.checked_div(y)
                }
                BinOp::Rem => x.checked_rem(y),
            };
            r.map(Value::Int).ok_or(Error::Overflow {
                at,
                op: op.as_str(),
            })
        }
        (Value::Bool(_), _) => Err(Error::WrongType {
            at: la,
            expected: "a number".into(),
            found: "a boolean".into(),
        }),
        (_, Value::Bool(_)) => Err(Error::WrongType {
            at: lb,
            expected: "a number".into(),
            found: "a boolean".into(),
        }),
        (x, y) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            if matches!(op, BinOp::Div | BinOp::Rem) && y == 0.0 {
                return Err(Error::DivisionByZero { at: lb });
            }
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                BinOp::Rem => x % y,
            };
            if r.is_finite() {
                Ok(Value::Float(r))
            } else {
                Err(Error::Overflow {
                    at,
                    op: op.as_str(),
                })
            }
        }
    }
}
