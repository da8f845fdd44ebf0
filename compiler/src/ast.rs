//! The syntax tree of one `.arch` file, with spans. Produced by `parse`, consumed by
//! `resolve` and `fmt`. Purely syntactic: a property's key is any name here.

use crate::span::Span;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Ast {
    /// `#![allow(...)]` lines at the top of the file.
    pub inner_attrs: Vec<Attr>,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LintLevel {
    Allow,
    Warn,
    Deny,
}

impl LintLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LintLevel::Allow => "allow",
            LintLevel::Warn => "warn",
            LintLevel::Deny => "deny",
        }
    }
}

/// `#[allow(a, b)]` or `#![deny(c)]`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attr {
    pub level: LintLevel,
    pub lints: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Item {
    pub attrs: Vec<Attr>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum ItemKind {
    /// `model gpt2_small`
    Model { name: Ident },
    /// `param d = 768`
    Param { name: Ident, value: Expr },
    /// `scale smoke { d = 64, layers = 2 }`
    Scale { name: Ident, assigns: Vec<Assign> },
    /// `block decoder(width = d) { ... }`
    Block {
        name: Ident,
        params: Vec<BlockParam>,
        body: Body,
    },
    /// `stem text: tokens(vocab = 50257) { ... }`
    Stem {
        name: Ident,
        kind: Call,
        body: Option<Body>,
    },
    /// `trunk { ... }` (the name is optional and defaults to `trunk`)
    Trunk { name: Option<Ident>, body: Body },
    /// `head lm: text(target = text) { ... }`
    Head {
        name: Ident,
        kind: Call,
        body: Option<Body>,
    },
    /// `layer z: norm(rmsnorm) { from: lm.out }`
    Layer {
        name: Ident,
        kind: Call,
        body: Option<Body>,
    },
    /// `let z = trunk.out`
    Alias { name: Ident, target: Path },
    /// `loop think: trunk.out -> trunk.in { ... }`
    Loop {
        name: Ident,
        from: Path,
        to: Path,
        body: Option<Body>,
    },
    /// `mask image: bidirectional`
    Mask { modality: Ident, kind: Call },
}

impl ItemKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Model { .. } => "model",
            ItemKind::Param { .. } => "param",
            ItemKind::Scale { .. } => "scale",
            ItemKind::Block { .. } => "block",
            ItemKind::Stem { .. } => "stem",
            ItemKind::Trunk { .. } => "trunk",
            ItemKind::Head { .. } => "head",
            ItemKind::Layer { .. } => "layer",
            ItemKind::Alias { .. } => "let",
            ItemKind::Loop { .. } => "loop",
            ItemKind::Mask { .. } => "mask",
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Assign {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BlockParam {
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Body {
    pub props: Vec<Prop>,
    pub span: Span,
}

/// `key: value` inside an item's braces.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Prop {
    pub attrs: Vec<Attr>,
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 2,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    /// A name or a dotted path: `d`, `true`, `pre`, `trunk.blocks.3.out`.
    Path(Path),
    Call(Call),
    List(Vec<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `0.0 .. 1.0`
    Range(Box<Expr>, Box<Expr>),
    /// `decoder x 12`
    Repeat(Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
    /// A literal the parser could not represent (already diagnosed).
    Error,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn text(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
    /// The single name, if this path has exactly one segment.
    pub fn single(&self) -> Option<&Ident> {
        match self.segments.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

impl Expr {
    /// A bare name (`pre`, `true`, `gelu`) or a call with no arguments written as a name.
    pub fn as_name(&self) -> Option<&Ident> {
        match &self.kind {
            ExprKind::Path(p) => p.single(),
            ExprKind::Paren(e) => e.as_name(),
            _ => None,
        }
    }
}
