//! Building syntax-tree pieces with the spans they stand for.

use crate::ast::*;
use crate::model::Act;
use crate::span::Span;

pub(super) fn act_name(a: Act) -> &'static str {
    match a {
        Act::Gelu => "gelu",
        Act::Relu => "relu",
        Act::Silu => "silu",
        Act::Tanh => "tanh",
    }
}

pub(super) fn ident(name: &str, span: Span) -> Ident {
    Ident {
        name: name.to_string(),
        span,
    }
}

pub(super) fn expr(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

pub(super) fn float(v: f64, span: Span) -> Expr {
    expr(ExprKind::Float(v), span)
}

pub(super) fn boolean(b: bool, span: Span) -> Expr {
    name_expr(if b { "true" } else { "false" }, span)
}

pub(super) fn name_expr(name: &str, span: Span) -> Expr {
    path_expr(name, span)
}

pub(super) fn path_expr(text: &str, span: Span) -> Expr {
    expr(
        ExprKind::Path(Path {
            segments: text.split('.').map(|s| ident(s, span)).collect(),
            span,
        }),
        span,
    )
}

pub(super) fn arg(name: &str, value: Expr) -> Arg {
    Arg {
        name: Some(ident(name, value.span)),
        value,
    }
}

pub(super) fn call(name: &str, span: Span, args: Vec<(&str, Expr)>) -> Expr {
    expr(
        ExprKind::Call(Call {
            name: ident(name, span),
            args: args.into_iter().map(|(n, v)| arg(n, v)).collect(),
            span,
        }),
        span,
    )
}

pub(super) fn prop(key: &str, value: Expr) -> Prop {
    Prop {
        attrs: Vec::new(),
        key: ident(key, value.span),
        span: value.span,
        value,
    }
}

pub(super) fn body(props: Vec<Prop>, span: Span) -> Body {
    Body { props, span }
}

pub(super) fn item(kind: ItemKind, span: Span) -> Item {
    Item {
        attrs: Vec::new(),
        kind,
        span,
    }
}
