//! A block-style YAML writer for the IR. serde_norway writes the same document about 10x
//! slower (160 ms for a 10,000-block IR on the bench machine), and going through a
//! `serde_json::Value` tree costs as much again in allocation; so the IR is serialised as
//! compact JSON (fast) and that text is rewritten as block YAML in one pass. Reading back
//! goes through serde_norway, and tests round-trip every model.
//!
//! Strings and numbers are copied from the JSON as they are: a JSON string is a valid
//! YAML double-quoted scalar, so no value can be mistaken for another type.

/// Rewrites compact JSON (as `serde_json::to_string` writes it) as block YAML.
pub fn json_to_yaml(json: &str) -> String {
    let mut w = Writer {
        src: json.as_bytes(),
        at: 0,
        out: String::with_capacity(json.len() * 5 / 4),
    };
    w.value_top();
    w.out
}

struct Writer<'a> {
    src: &'a [u8],
    at: usize,
    out: String,
}

impl Writer<'_> {
    fn peek(&self) -> u8 {
        self.src.get(self.at).copied().unwrap_or(b'\0')
    }

    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    /// Copies one scalar (string, number, true/false/null) and moves past it.
    fn scalar(&mut self) {
        let start = self.at;
        if self.peek() == b'"' {
            self.at += 1;
            while self.at < self.src.len() {
                match self.src[self.at] {
                    b'\\' => self.at += 2,
                    b'"' => {
                        self.at += 1;
                        break;
                    }
                    _ => self.at += 1,
                }
            }
        } else {
            while self.at < self.src.len() && !matches!(self.src[self.at], b',' | b'}' | b']') {
                self.at += 1;
            }
        }
        let text = std::str::from_utf8(&self.src[start..self.at]).unwrap_or("");
        match text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| plain(t))
        {
            Some(inner) => self.out.push_str(inner),
            None => self.out.push_str(text),
        }
    }

    /// `{}` or `[]` at the cursor?
    fn empty_container(&self) -> bool {
        matches!(self.peek(), b'{' | b'[') && matches!(self.src.get(self.at + 1), Some(b'}' | b']'))
    }

    fn value_top(&mut self) {
        match self.peek() {
            b'{' if !self.empty_container() => self.map(0, false),
            b'[' if !self.empty_container() => self.list(0),
            _ => {
                self.inline();
                self.out.push('\n');
            }
        }
    }

    /// A scalar or an empty container, on the current line.
    fn inline(&mut self) {
        if self.empty_container() {
            self.out.push(self.peek() as char);
            self.out.push(self.src[self.at + 1] as char);
            self.at += 2;
        } else {
            self.scalar();
        }
    }

    /// A non-empty map; `first_inline`: its first key goes on the current line (after `- `).
    fn map(&mut self, depth: usize, first_inline: bool) {
        self.at += 1; // {
        let mut first = true;
        loop {
            if !(first && first_inline) {
                self.indent(depth);
            }
            first = false;
            self.key();
            self.at += 1; // :
            self.after_key(depth);
            match self.peek() {
                b',' => self.at += 1,
                _ => {
                    self.at += 1; // }
                    return;
                }
            }
        }
    }

    fn key(&mut self) {
        self.scalar();
        self.out.push(':');
    }

    fn after_key(&mut self, depth: usize) {
        match self.peek() {
            b'{' if !self.empty_container() => {
                self.out.push('\n');
                self.map(depth + 2, false);
            }
            // Lists under a key are not indented further (the common YAML style).
            b'[' if !self.empty_container() => {
                self.out.push('\n');
                self.list(depth);
            }
            _ => {
                self.out.push(' ');
                self.inline();
                self.out.push('\n');
            }
        }
    }

    fn list(&mut self, depth: usize) {
        self.at += 1; // [
        loop {
            self.indent(depth);
            self.out.push_str("- ");
            match self.peek() {
                b'{' if !self.empty_container() => self.map(depth + 2, true),
                b'[' if !self.empty_container() => {
                    self.out.push('\n');
                    self.list(depth + 2);
                }
                _ => {
                    self.inline();
                    self.out.push('\n');
                }
            }
            match self.peek() {
                b',' => self.at += 1,
                _ => {
                    self.at += 1; // ]
                    return;
                }
            }
        }
    }
}

/// A string that YAML reads back as the same string without quotes: a name or a dotted
/// path, not one of the words YAML 1.1 or 1.2 reads as a boolean or null.
fn plain(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}
