//! Identifiers and literals for generated code. `.arch` names are ASCII identifiers (the
//! grammar's `ident`); the emitters still escape every name they write, and keep names
//! that are keywords or clash with the target's own attributes out of identifier position.

/// Python's keywords (3.12, `keyword.kwlist`) and the soft keywords.
const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type", "_",
];

/// Attributes and methods of `torch.nn.Module` a submodule name must not shadow.
const MODULE_ATTRS: &[&str] = &[
    "T_destination",
    "add_module",
    "apply",
    "bfloat16",
    "buffers",
    "call_super_init",
    "children",
    "compile",
    "cpu",
    "cuda",
    "double",
    "dump_patches",
    "eval",
    "extra_repr",
    "float",
    "forward",
    "get_buffer",
    "get_extra_state",
    "get_parameter",
    "get_submodule",
    "half",
    "ipu",
    "load_state_dict",
    "modules",
    "mtia",
    "named_buffers",
    "named_children",
    "named_modules",
    "named_parameters",
    "parameters",
    "register_buffer",
    "register_forward_hook",
    "register_forward_pre_hook",
    "register_full_backward_hook",
    "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook",
    "register_module",
    "register_parameter",
    "register_state_dict_post_hook",
    "register_state_dict_pre_hook",
    "requires_grad_",
    "set_extra_state",
    "set_submodule",
    "share_memory",
    "state_dict",
    "to",
    "to_empty",
    "train",
    "training",
    "type",
    "xpu",
    "zero_grad",
];

/// Whether `name` may be written as a Python attribute of an `nn.Module`.
pub fn py_attr_ok(name: &str) -> bool {
    is_ident(name)
        && !name.starts_with('_')
        && !PY_KEYWORDS.contains(&name)
        && !MODULE_ATTRS.contains(&name)
}

pub fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// A Python string literal of `s`: double-quoted; backslash, quote and anything outside
/// printable ASCII escaped, so no input can end the literal.
pub fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ' '..='~' => out.push(ch),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A fragment safe inside a Python or Rust comment: one line, printable ASCII.
pub fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// A snake_case identifier made from a path (`trunk.blocks.3` -> `trunk_blocks_3`), with
/// a prefix so that it is never a keyword.
pub fn var(prefix: &str, path: &str) -> String {
    let body: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{body}")
}

/// One variable per node of the plan, named from its path (`x_trunk_blocks_3`); a name
/// two paths would share gets the node's index appended.
pub fn node_vars(
    g: &crate::graph::ArchGraph,
    plan: &crate::graph::ExecPlan,
) -> std::collections::HashMap<petgraph::stable_graph::NodeIndex, String> {
    let mut vars = std::collections::HashMap::new();
    let mut taken: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for &n in &plan.order {
        let mut v = var("x_", &g.graph[n].path);
        let k = taken.entry(v.clone()).or_insert(0);
        *k += 1;
        if *k > 1 {
            v = format!("{v}_{}", n.index());
        }
        vars.insert(n, v);
    }
    vars
}

/// A CamelCase class name from an item's kind and name (`stem`, `text` -> `StemText`).
pub fn class(kind: &str, name: &str) -> String {
    let mut out = String::new();
    for part in format!("{kind}_{name}")
        .split('_')
        .filter(|p| !p.is_empty())
    {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(c.filter(|c| c.is_ascii_alphanumeric()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_be_broken_out_of() {
        assert_eq!(py_str(r#"a"); import os #"#), r#""a\"); import os #""#);
        assert_eq!(py_str("a\nb\\"), "\"a\\x0ab\\\\\"");
        assert_eq!(py_str("é"), "\"\\xe9\"");
        assert_eq!(comment("x\ny"), "x?y");
    }

    #[test]
    fn keywords_and_module_attributes_stay_out_of_attribute_position() {
        for bad in [
            "class", "train", "forward", "_hidden", "to", "lambda", "1x", "",
        ] {
            assert!(!py_attr_ok(bad), "{bad}");
        }
        for good in ["text", "lm", "trunk", "image_gen"] {
            assert!(py_attr_ok(good), "{good}");
        }
        assert_eq!(class("head", "image_gen"), "HeadImageGen");
        assert_eq!(var("x_", "trunk.blocks.3"), "x_trunk_blocks_3");
    }
}
