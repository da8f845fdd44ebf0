//! `source_to_ast`: text -> syntax tree, with every syntax error found.
//!
//! pest stops at the first error, so after one we resume at the next line that starts
//! a top-level item in column 0 (`fmt` puts every item there) and keep going. Nesting
//! deeper than [`MAX_NESTING`] is refused before pest sees it: its recursive descent
//! would otherwise overflow the stack on 200,000 nested braces.

use crate::ast::*;
use crate::diag::Error;
use crate::span::Span;
use archc_grammar::{
    pest::{self, iterators::Pair, Parser},
    ArchParser, Rule,
};

/// Brackets of any kind nested deeper than this are a diagnostic, not a stack overflow.
pub const MAX_NESTING: usize = 64;
/// At most this many operators (and prefix minus signs) in one arithmetic expression.
pub const MAX_OPERATORS: usize = 256;
/// Names longer than this are refused (a 1 MB identifier is a mistake, not a name).
pub const MAX_NAME_LEN: usize = 256;
/// At most this many syntax errors are reported per file.
const MAX_SYNTAX_ERRORS: usize = 20;

const ITEM_KEYWORDS: &[&str] = &[
    "model", "param", "scale", "block", "stem", "trunk", "head", "layer", "let", "loop", "mask",
];

/// Parses a whole file. The AST holds every item that parsed; the errors say where
/// the others failed. An AST that comes with errors is incomplete: callers stop there.
pub fn source_to_ast(src: &str) -> (Ast, Vec<Error>) {
    if let Some(err) = check_nesting(src) {
        return (Ast::default(), vec![err]);
    }
    // Error detail (what was expected where) costs about half the parse time, so a clean
    // file is parsed without it, and a broken one parsed again with it. It is a global
    // switch: it is only ever turned on, so a parse on another thread never loses it.
    match ArchParser::parse(Rule::file, src) {
        Ok(mut pairs) => {
            let mut errors = Vec::new();
            let file = pairs.next().expect("the file rule always yields one pair");
            let ast = file_to_ast(file, 0, &mut errors);
            (ast, errors)
        }
        Err(plain) => {
            pest::set_error_detail(true);
            let detailed = ArchParser::parse(Rule::file, src).err();
            recover(src, detailed.unwrap_or(plain))
        }
    }
}

/// After a syntax error: collect the items that do parse, and the errors of those that don't.
fn recover(src: &str, first: pest::error::Error<Rule>) -> (Ast, Vec<Error>) {
    let first_err = syntax_error(&first, src, 0);
    let first_at = first_err.primary_span().lo;
    let starts = item_starts(src);
    let mut ast = Ast::default();
    let mut errors = vec![first_err];
    for (i, &lo) in starts.iter().enumerate() {
        let hi = starts.get(i + 1).copied().unwrap_or(src.len());
        // The chunk holding the first error was reported by the whole-file parse.
        if (lo..hi.max(lo + 1)).contains(&first_at) || (i == 0 && first_at < lo) {
            continue;
        }
        let chunk = &src[lo..hi];
        match ArchParser::parse(Rule::file, chunk) {
            Ok(mut pairs) => {
                let file = pairs.next().expect("the file rule always yields one pair");
                let part = file_to_ast(file, lo, &mut errors);
                ast.inner_attrs.extend(part.inner_attrs);
                ast.items.extend(part.items);
            }
            Err(e) if lo > first_at => errors.push(syntax_error(&e, chunk, lo)),
            Err(_) => {}
        }
        if errors.len() >= MAX_SYNTAX_ERRORS {
            break;
        }
    }
    errors.sort_by_key(|e| e.primary_span().lo);
    (ast, errors)
}

/// Byte offsets of lines that start (in column 0) with an item keyword or an attribute.
fn item_starts(src: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let starts_item = line.starts_with('#')
            || ITEM_KEYWORDS.iter().any(|kw| {
                line.strip_prefix(kw)
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| c == ' ' || c == '\t')
            });
        if starts_item && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
}

/// The brackets of a text, outside comments and strings: (offset, opens?).
fn brackets(src: &str) -> impl Iterator<Item = (usize, bool)> + '_ {
    let bytes = src.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let at = i;
            i += 1;
            match bytes[at] {
                b'/' if bytes.get(at + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'"' => {
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += 1;
                    }
                    i += 1;
                }
                b'(' | b'[' | b'{' => return Some((at, true)),
                b')' | b']' | b'}' => return Some((at, false)),
                _ => {}
            }
        }
        None
    })
}

/// The innermost bracket still open at the end of the text, if any.
fn unclosed_bracket(src: &str) -> Option<Span> {
    let mut open: Vec<usize> = Vec::new();
    for (at, opens) in brackets(src) {
        if opens {
            open.push(at);
        } else {
            open.pop();
        }
    }
    open.last().map(|&i| Span::new(i, i + 1))
}

fn check_nesting(src: &str) -> Option<Error> {
    let mut depth = 0usize;
    for (at, opens) in brackets(src) {
        if !opens {
            depth = depth.saturating_sub(1);
            continue;
        }
        depth += 1;
        if depth > MAX_NESTING {
            return Some(Error::TooDeep {
                at: Span::new(at, at + 1),
                limit: MAX_NESTING,
                what: "brackets nested",
            });
        }
    }
    None
}

fn syntax_error(e: &pest::error::Error<Rule>, src: &str, base: usize) -> Error {
    use pest::error::{ErrorVariant, InputLocation};
    let at = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((lo, _)) => lo,
    };
    // For `item*`, pest reports where the repetition stopped; the furthest attempt is
    // where the item really went wrong.
    let at = e
        .parse_attempts()
        .map_or(at, |a| a.max_position.max(at))
        .min(src.len());
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = e.parse_attempts() {
        for tok in attempts.expected_tokens() {
            let token = tok.to_string();
            // Keep punctuation and keywords; drop whitespace, comments, char ranges.
            let noise = token.trim().is_empty()
                || token == "//"
                || token == "BUILTIN_RULE"
                // `_` starts a name and `"` a string: "a name"/"an expression" say it.
                || token == "_"
                || token == "\""
                || (token.contains("..") && token != "..")
                || token.chars().all(|c| c.is_ascii_uppercase());
            if !noise {
                expected.push(format!("`{token}`"));
            }
        }
    }
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(name) = rule_name(*r) {
                expected.push(name.to_string());
            }
        }
    }
    // Operators are one idea, not seven tokens.
    let ops = [
        "`%`",
        "`*`",
        "`+`",
        "`-`",
        "`/`",
        "`..`",
        "`x`",
        "an operator",
    ];
    if expected.iter().any(|e| ops.contains(&e.as_str())) {
        expected.retain(|e| !ops.contains(&e.as_str()));
        expected.push("an operator".to_string());
    }
    // "an item" already names the keywords and attributes.
    if expected.iter().any(|e| e.starts_with("an item")) {
        let kws: Vec<String> = ITEM_KEYWORDS
            .iter()
            .map(|k| format!("`{k}`"))
            .chain(["`#`".to_string(), "`#!`".to_string()])
            .collect();
        expected.retain(|e| !kws.contains(e));
    }
    // A token a rule's description already names ("`allow`, `warn` or `deny`") is said once.
    let described: Vec<String> = expected.iter().filter(|e| !is_token(e)).cloned().collect();
    expected.retain(|e| !is_token(e) || !described.iter().any(|d| d.contains(e.as_str())));
    expected.sort();
    expected.dedup();
    let found = src[at..].chars().next().map(|c| {
        if c.is_alphanumeric() || c == '_' {
            let word: String = src[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            format!("`{word}`")
        } else if c == '\n' {
            "end of line".to_string()
        } else {
            format!("`{c}`")
        }
    });
    let len = src[at..]
        .chars()
        .next()
        .map_or(0, |c| if c == '\n' { 0 } else { c.len_utf8() });
    // At the end of the text there is nothing to underline: point at the last character.
    let (at, len) = if at >= src.len() {
        let last = src.trim_end().char_indices().last().map_or(0, |(i, _)| i);
        (last, src[last..].chars().next().map_or(0, char::len_utf8))
    } else {
        (at, len)
    };
    let unclosed = unclosed_bracket(src)
        .filter(|s| s.lo < at)
        .map(|s| s.shifted(base));
    Error::Syntax {
        at: Span::new(base + at, base + at + len),
        expected,
        found,
        unclosed,
    }
}

/// One quoted token (`` `allow` ``), not a description of several.
fn is_token(e: &str) -> bool {
    e.len() > 2 && e.starts_with('`') && e.ends_with('`') && !e[1..e.len() - 1].contains('`')
}

fn rule_name(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::item | Rule::outer_attr => "an item (`param`, `block`, `stem`, `trunk`, `head`, ...)",
        Rule::inner_attr => "`#![...]`",
        Rule::ident => "a name",
        Rule::expr | Rule::range | Rule::arith | Rule::paren => "an expression",
        Rule::int | Rule::float => "a number",
        Rule::string => "a string",
        Rule::call => "a call like `name(...)`",
        Rule::kind => "a kind, like `tokens(vocab = 256)` or `text`",
        Rule::path => "a name or path",
        Rule::prop => "a property `key: value`",
        Rule::body => "`{`",
        Rule::block_params => "`(`",
        Rule::assign => "`name = value`",
        Rule::lint_level => "`allow`, `warn` or `deny`",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::rem => "an operator",
        Rule::range_op => "`..`",
        Rule::repeat_op => "`x`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

struct Cx<'e> {
    base: usize,
    errors: &'e mut Vec<Error>,
}

impl Cx<'_> {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }
    fn ident(&mut self, p: Pair<Rule>) -> Ident {
        let span = self.span(&p);
        let text = p.as_str();
        if text.len() > MAX_NAME_LEN {
            self.errors.push(Error::NameTooLong {
                at: span,
                len: text.len(),
                limit: MAX_NAME_LEN,
            });
            // Keep a short stand-in so later stages never carry a megabyte name.
            return Ident {
                name: text[..MAX_NAME_LEN].to_string(),
                span,
            };
        }
        Ident {
            name: text.to_string(),
            span,
        }
    }
}

fn file_to_ast(file: Pair<Rule>, base: usize, errors: &mut Vec<Error>) -> Ast {
    let mut cx = Cx { base, errors };
    let mut ast = Ast::default();
    for p in file.into_inner() {
        match p.as_rule() {
            Rule::inner_attr => ast.inner_attrs.push(attr(&mut cx, p)),
            Rule::item => ast.items.push(item(&mut cx, p)),
            _ => {}
        }
    }
    ast
}

fn attr(cx: &mut Cx, p: Pair<Rule>) -> Attr {
    let span = cx.span(&p);
    let body = p.into_inner().next().expect("attr has a body");
    let mut inner = body.into_inner();
    let level = match inner.next().expect("attr has a level").as_str() {
        "allow" => LintLevel::Allow,
        "warn" => LintLevel::Warn,
        _ => LintLevel::Deny,
    };
    let lints = inner.map(|i| cx.ident(i)).collect();
    Attr { level, lints, span }
}

fn item(cx: &mut Cx, p: Pair<Rule>) -> Item {
    let span = cx.span(&p);
    let mut attrs = Vec::new();
    let mut kind = None;
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::outer_attr => attrs.push(attr(cx, part)),
            _ => kind = Some(item_kind(cx, part)),
        }
    }
    Item {
        attrs,
        kind: kind.expect("an item has a kind"),
        span,
    }
}

fn item_kind(cx: &mut Cx, p: Pair<Rule>) -> ItemKind {
    let rule = p.as_rule();
    let mut it = p.into_inner();
    it.next(); // the keyword
    let mut next = || it.next().expect("grammar guarantees this part");
    match rule {
        Rule::model_item => ItemKind::Model {
            name: cx.ident(next()),
        },
        Rule::param_item => {
            let name = cx.ident(next());
            ItemKind::Param {
                name,
                value: expr(cx, next()),
            }
        }
        Rule::scale_item => {
            let name = cx.ident(next());
            let mut assigns = Vec::new();
            for a in it {
                let mut ai = a.into_inner();
                let n = cx.ident(ai.next().expect("assign name"));
                let v = expr(cx, ai.next().expect("assign value"));
                assigns.push(Assign { name: n, value: v });
            }
            ItemKind::Scale { name, assigns }
        }
        Rule::block_item => {
            let name = cx.ident(next());
            let mut params = Vec::new();
            let mut body_pair = next();
            if body_pair.as_rule() == Rule::block_params {
                for bp in body_pair.into_inner() {
                    let mut bi = bp.into_inner();
                    let n = cx.ident(bi.next().expect("param name"));
                    let default = bi.next().map(|e| expr(cx, e));
                    params.push(BlockParam { name: n, default });
                }
                body_pair = next();
            }
            ItemKind::Block {
                name,
                params,
                body: body(cx, body_pair),
            }
        }
        Rule::stem_item | Rule::head_item | Rule::layer_item => {
            let name = cx.ident(next());
            let kind = call(cx, next());
            let b = it.next().map(|b| body(cx, b));
            match rule {
                Rule::stem_item => ItemKind::Stem {
                    name,
                    kind,
                    body: b,
                },
                Rule::head_item => ItemKind::Head {
                    name,
                    kind,
                    body: b,
                },
                _ => ItemKind::Layer {
                    name,
                    kind,
                    body: b,
                },
            }
        }
        Rule::trunk_item => {
            let first = next();
            if first.as_rule() == Rule::ident {
                let name = Some(cx.ident(first));
                ItemKind::Trunk {
                    name,
                    body: body(cx, next()),
                }
            } else {
                ItemKind::Trunk {
                    name: None,
                    body: body(cx, first),
                }
            }
        }
        Rule::alias_item => {
            let name = cx.ident(next());
            ItemKind::Alias {
                name,
                target: path(cx, next()),
            }
        }
        Rule::loop_item => {
            let name = cx.ident(next());
            let from = path(cx, next());
            let to = path(cx, next());
            let b = it.next().map(|b| body(cx, b));
            ItemKind::Loop {
                name,
                from,
                to,
                body: b,
            }
        }
        Rule::mask_item => {
            let modality = cx.ident(next());
            ItemKind::Mask {
                modality,
                kind: call(cx, next()),
            }
        }
        other => unreachable!("not an item rule: {other:?}"),
    }
}

fn body(cx: &mut Cx, p: Pair<Rule>) -> Body {
    let span = cx.span(&p);
    let mut props = Vec::new();
    for prop in p.into_inner() {
        let pspan = cx.span(&prop);
        let mut attrs = Vec::new();
        let mut key = None;
        let mut value = None;
        for part in prop.into_inner() {
            match part.as_rule() {
                Rule::outer_attr => attrs.push(attr(cx, part)),
                Rule::ident => key = Some(cx.ident(part)),
                _ => value = Some(expr(cx, part)),
            }
        }
        props.push(Prop {
            attrs,
            key: key.expect("prop has a key"),
            value: value.expect("prop has a value"),
            span: pspan,
        });
    }
    Body { props, span }
}

fn path(cx: &mut Cx, p: Pair<Rule>) -> Path {
    let span = cx.span(&p);
    let segments = p.into_inner().map(|s| cx.ident(s)).collect();
    Path { segments, span }
}

fn call(cx: &mut Cx, p: Pair<Rule>) -> Call {
    let span = cx.span(&p);
    if p.as_rule() == Rule::kind {
        let inner = p.into_inner().next().expect("a kind is a call or a name");
        if inner.as_rule() == Rule::ident {
            return Call {
                name: cx.ident(inner),
                args: Vec::new(),
                span,
            };
        }
        return call(cx, inner);
    }
    let mut it = p.into_inner();
    let name = cx.ident(it.next().expect("call has a name"));
    let mut args = Vec::new();
    for a in it {
        let mut parts: Vec<Pair<Rule>> = a.into_inner().collect();
        let value = expr(cx, parts.pop().expect("arg has a value"));
        let name = parts.pop().map(|n| cx.ident(n));
        args.push(Arg { name, value });
    }
    Call { name, args, span }
}

fn expr(cx: &mut Cx, p: Pair<Rule>) -> Expr {
    let span = cx.span(&p);
    match p.as_rule() {
        Rule::expr => {
            let mut it = p.into_inner();
            let lhs = expr(cx, it.next().expect("expr has a range"));
            match (it.next(), it.next()) {
                (Some(_x), Some(rhs)) => {
                    let rhs = expr(cx, rhs);
                    // From the operands: the pair's own span ends after trailing whitespace.
                    let span = lhs.span.to(rhs.span);
                    Expr {
                        kind: ExprKind::Repeat(Box::new(lhs), Box::new(rhs)),
                        span,
                    }
                }
                _ => lhs,
            }
        }
        Rule::range => {
            let mut it = p.into_inner();
            let lhs = expr(cx, it.next().expect("range has a lhs"));
            match (it.next(), it.next()) {
                (Some(_), Some(rhs)) => {
                    let rhs = expr(cx, rhs);
                    // From the operands: the pair's own span ends after trailing whitespace.
                    let span = lhs.span.to(rhs.span);
                    Expr {
                        kind: ExprKind::Range(Box::new(lhs), Box::new(rhs)),
                        span,
                    }
                }
                _ => lhs,
            }
        }
        Rule::arith => arith(cx, p),
        Rule::paren => {
            let inner = expr(cx, p.into_inner().next().expect("paren has an expr"));
            Expr {
                kind: ExprKind::Paren(Box::new(inner)),
                span,
            }
        }
        Rule::list => {
            let items = p.into_inner().map(|e| expr(cx, e)).collect();
            Expr {
                kind: ExprKind::List(items),
                span,
            }
        }
        Rule::call => Expr {
            kind: ExprKind::Call(call(cx, p)),
            span,
        },
        Rule::path => Expr {
            kind: ExprKind::Path(path(cx, p)),
            span,
        },
        Rule::string => {
            let s = p.as_str();
            Expr {
                kind: ExprKind::Str(s[1..s.len() - 1].to_string()),
                span,
            }
        }
        Rule::int => {
            let text: String = p.as_str().chars().filter(|c| *c != '_').collect();
            match text.parse::<i64>() {
                Ok(v) => Expr {
                    kind: ExprKind::Int(v),
                    span,
                },
                Err(_) => {
                    cx.errors.push(Error::NumberTooLarge {
                        at: span,
                        digits: text.len(),
                    });
                    Expr {
                        kind: ExprKind::Error,
                        span,
                    }
                }
            }
        }
        Rule::float => match p.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => Expr {
                kind: ExprKind::Float(v),
                span,
            },
            _ => {
                cx.errors.push(Error::NumberTooLarge {
                    at: span,
                    digits: p.as_str().len(),
                });
                Expr {
                    kind: ExprKind::Error,
                    span,
                }
            }
        },
        other => unreachable!("not an expression rule: {other:?}"),
    }
}

/// `prefix* primary (infix prefix* primary)*`, folded by precedence (all left-associative).
fn arith(cx: &mut Cx, p: Pair<Rule>) -> Expr {
    let mut operands: Vec<Expr> = Vec::new();
    let mut ops: Vec<BinOp> = Vec::new();
    let mut negs: Vec<Span> = Vec::new();
    let span = cx.span(&p);
    let parts = p.into_inner();
    // Most values are one operand: no operator vectors for them.
    if parts.len() == 1 {
        let only = parts.peek().expect("arith has an operand");
        if only.as_rule() != Rule::prefix {
            return expr(cx, only);
        }
    }
    // A left-deep tree of 100,000 `+` would overflow the stack when walked or dropped.
    if parts.len() > 2 * MAX_OPERATORS + 1 {
        cx.errors.push(Error::TooDeep {
            at: span,
            limit: MAX_OPERATORS,
            what: "operators in one expression",
        });
        return Expr {
            kind: ExprKind::Error,
            span,
        };
    }
    for part in parts {
        match part.as_rule() {
            Rule::prefix => negs.push(cx.span(&part)),
            Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::rem => {
                ops.push(match part.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    _ => BinOp::Rem,
                })
            }
            _ => {
                let mut e = expr(cx, part);
                while let Some(neg) = negs.pop() {
                    let span = neg.to(e.span);
                    e = Expr {
                        kind: ExprKind::Neg(Box::new(e)),
                        span,
                    };
                }
                operands.push(e);
            }
        }
    }
    // Shunting-yard over two precedence levels, iteratively (no recursion on length).
    let mut out: Vec<Expr> = Vec::new();
    let mut stack: Vec<BinOp> = Vec::new();
    let mut operands = operands.into_iter();
    out.push(operands.next().expect("arith has an operand"));
    let reduce = |out: &mut Vec<Expr>, op: BinOp| {
        let rhs = out.pop().expect("rhs");
        let lhs = out.pop().expect("lhs");
        let span = lhs.span.to(rhs.span);
        out.push(Expr {
            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
        });
    };
    for (op, rhs) in ops.into_iter().zip(operands) {
        while stack
            .last()
            .is_some_and(|top| top.precedence() >= op.precedence())
        {
            let top = stack.pop().expect("non-empty");
            reduce(&mut out, top);
        }
        stack.push(op);
        out.push(rhs);
    }
    while let Some(op) = stack.pop() {
        reduce(&mut out, op);
    }
    out.pop().expect("one expression remains")
}
