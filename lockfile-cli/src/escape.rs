//! Text from files and file names made safe to print on a terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with the characters that a terminal would act on or that would hide
/// or reorder what is shown (controls such as ESC, bidirectional overrides,
/// zero-width characters) written as escapes: `\n`, `\t`, `\r`, `\x1b`,
/// `\u{202e}`. A lock file planted by someone else then cannot retitle, clear
/// or otherwise drive the terminal of whoever looks at it. Backslashes are
/// left as they are, so ordinary text reads as it is.
pub(crate) fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) && u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is escaped: it would act on a terminal, or hide or reorder text.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(for_terminal("web-1 é"), "web-1 é");
        assert_eq!(
            for_terminal("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
            "\\x1b]0;pwned\\x07\\x1b[2J"
        );
        assert_eq!(
            for_terminal("a\nb\tc\r\u{7f}\u{9b}"),
            "a\\nb\\tc\\r\\x7f\\x9b"
        );
        assert_eq!(for_terminal("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(for_terminal("C:\\dir"), "C:\\dir");
    }
}
