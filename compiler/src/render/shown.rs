//! A file's bytes as text that is safe to print. A file is data: a snippet that copied its
//! bytes to the terminal would let an escape sequence in it retitle the window or clear
//! the screen, a bidi override reorder what the reader sees, and a stray carriage return
//! or line separator break the snippet's line numbering. So every non-printing character,
//! and every byte that is not UTF-8, is shown as an escape (`\u{1b}`, `\xff`), and spans
//! into the file are moved to the same characters in the shown text.

/// The shown text, and how to find a file offset in it.
#[derive(Clone, Debug)]
pub struct Shown {
    pub text: String,
    /// (file offset just past an escaped piece, how much longer the text is from there on).
    shifts: Vec<(usize, isize)>,
}

impl Shown {
    /// `bytes` as shown: printing characters, newlines and tabs as they are (a `\r` only
    /// before `\n`), everything else escaped.
    pub fn new(bytes: &[u8]) -> Shown {
        let mut text = String::with_capacity(bytes.len());
        let mut shifts = Vec::new();
        let mut shift: isize = 0;
        let mut at = 0;
        for chunk in bytes.utf8_chunks() {
            let mut chars = chunk.valid().char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                let next = chars.peek().map(|(_, n)| *n);
                if shows_as_is(c, next) {
                    text.push(c);
                } else {
                    let esc = escape(c);
                    text.push_str(&esc);
                    shift += esc.len() as isize - c.len_utf8() as isize;
                    shifts.push((at + i + c.len_utf8(), shift));
                }
            }
            at += chunk.valid().len();
            for b in chunk.invalid() {
                text.push_str(&format!("\\x{b:02x}"));
                shift += 3;
                at += 1;
                shifts.push((at, shift));
            }
        }
        Shown { text, shifts }
    }

    /// Where file offset `offset` is in the shown text.
    pub fn offset(&self, offset: usize) -> usize {
        let i = self.shifts.partition_point(|(o, _)| *o <= offset);
        let shift = if i == 0 { 0 } else { self.shifts[i - 1].1 };
        (offset as isize + shift).max(0) as usize
    }
}

/// Printed as it is: not a control character, a bidi or line-separator format character,
/// except newline, tab, and a carriage return that ends a line.
fn shows_as_is(c: char, next: Option<char>) -> bool {
    match c {
        '\n' | '\t' => true,
        '\r' => next == Some('\n'),
        c if c.is_control() => false,
        // Bidi embeddings, overrides and isolates ("trojan source"), marks, line and
        // paragraph separators, the byte-order mark and other invisible format characters.
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' => false,
        '\u{2060}'..='\u{206f}' | '\u{feff}' => false,
        _ => true,
    }
}

fn escape(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

/// A message or label with every character that would not print as itself escaped
/// (names and values in messages come from the file or the command line).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if shows_as_is(c, chars.peek().copied()) {
            out.push(c);
        } else {
            out.push_str(&escape(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_escaped_and_offsets_follow() {
        let src = "a = \u{1b}]0;PWNED\u{7}\u{1b}[2J\nb";
        let s = Shown::new(src.as_bytes());
        assert_eq!(s.text, "a = \\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\nb");
        assert_eq!(s.offset(0), 0);
        assert_eq!(s.offset(4), 4);
        // `]` after the first escape: 5 bytes of text for 1 byte of file.
        assert_eq!(&s.text[s.offset(5)..s.offset(5) + 1], "]");
        let b = src.find('b').unwrap_or(0);
        assert_eq!(&s.text[s.offset(b)..], "b");
    }

    #[test]
    fn invalid_utf8_bytes_become_hex_escapes() {
        let s = Shown::new(b"ok\xff\xfe!\r\nz\rq");
        assert_eq!(s.text, "ok\\xff\\xfe!\r\nz\\u{d}q");
        assert_eq!(&s.text[s.offset(4)..s.offset(4) + 1], "!");
        assert_eq!(&s.text[s.offset(2)..s.offset(2) + 4], "\\xff");
    }

    #[test]
    fn bidi_overrides_and_messages_are_escaped() {
        assert_eq!(escape_text("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_text("plain `name`"), "plain `name`");
        assert_eq!(escape_text("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
