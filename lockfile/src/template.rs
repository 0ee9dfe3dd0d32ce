//! Content templates: what a lock file says about its holder.
//!
//! The grammar is Python's `str.format` cut down to what zc.lockfile templates
//! mean: `{pid}`, `{hostname}`, `{{`, `}}` and literal text. It is checked by a
//! `const fn`, so `#[locked(content_template = "...")]` checks a literal template
//! at compile time with the very function that checks it here at run time.

use std::borrow::Cow;
use std::fmt::Write;

/// A template that passed [`find_invalid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Cow<'static, str>);

/// The part of a template that is not a valid placeholder or escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPlaceholder(pub(crate) String);

/// The byte range of the first piece of `template` that is neither text,
/// `{pid}`, `{hostname}`, `{{` nor `}}`: `{foo}`, `{}`, `{pid:>8}`, an unclosed
/// `{pid`, or a lone `}`. Format specs and conversions are rejected rather than
/// half-supported.
pub(crate) const fn find_invalid(template: &str) -> Option<(usize, usize)> {
    let bytes = template.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let next = if at + 1 < bytes.len() {
            bytes[at + 1]
        } else {
            0
        };
        match bytes[at] {
            b'{' if next == b'{' => at += 2,
            b'}' if next == b'}' => at += 2,
            b'}' => return Some((at, at + 1)),
            b'{' => {
                let mut end = at + 1;
                while end < bytes.len() && bytes[end] != b'{' && bytes[end] != b'}' {
                    end += 1;
                }
                if end == bytes.len() || bytes[end] == b'{' {
                    return Some((at, end));
                }
                if !is_name(bytes, at + 1, end) {
                    return Some((at, end + 1));
                }
                at = end + 1;
            }
            _ => at += 1,
        }
    }
    None
}

/// Why a template is invalid, worded at compile time: `#[locked]` checks a
/// literal template in a `const`, whose panic can only print a `&str` made
/// by `const fn`s, so the message is assembled in a fixed buffer.
#[derive(Debug, Clone, Copy)]
pub struct TemplateError {
    buf: [u8; 256],
    len: usize,
}

impl TemplateError {
    /// The message for the first invalid piece of `template`, if any: which
    /// piece, and what kind of mistake it is.
    pub const fn of(template: &str) -> Option<Self> {
        let Some((start, end)) = find_invalid(template) else {
            return None;
        };
        let piece = template.split_at(end).0.split_at(start).1;
        let bytes = piece.as_bytes();
        let message = Self::new().push("invalid content template: ");
        Some(if bytes[0] == b'}' {
            message.push("a lone `}`: write `}}` for a literal brace")
        } else if bytes[bytes.len() - 1] != b'}' {
            message
                .push("`")
                .push(piece)
                .push("` is not closed: write `{{` for a literal brace")
        } else {
            message
                .push("`")
                .push(piece)
                .push("` is not a placeholder: braces may hold only `{pid}` or `{hostname}`")
        })
    }

    const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Appends as much of `text` as fits, whole characters only.
    const fn push(mut self, text: &str) -> Self {
        let bytes = text.as_bytes();
        let room = self.buf.len() - self.len;
        let mut take = if bytes.len() < room {
            bytes.len()
        } else {
            room
        };
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        let mut at = 0;
        while at < take {
            self.buf[self.len] = bytes[at];
            self.len += 1;
            at += 1;
        }
        self
    }

    /// The message.
    pub const fn as_str(&self) -> &str {
        match std::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(message) => message,
            Err(_) => "invalid content template",
        }
    }
}

/// Whether `bytes[start..end]` is `pid` or `hostname` (slicing is not const).
const fn is_name(bytes: &[u8], start: usize, end: usize) -> bool {
    const fn equals(bytes: &[u8], start: usize, end: usize, word: &[u8]) -> bool {
        if end - start != word.len() {
            return false;
        }
        let mut i = 0;
        while i < word.len() {
            if bytes[start + i] != word[i] {
                return false;
            }
            i += 1;
        }
        true
    }
    equals(bytes, start, end, b"pid") || equals(bytes, start, end, b"hostname")
}

impl Template {
    pub(crate) fn parse(template: &str) -> Result<Self, BadPlaceholder> {
        match find_invalid(template) {
            Some((start, end)) => Err(BadPlaceholder(template[start..end].to_owned())),
            None => Ok(Self(Cow::Owned(template.to_owned()))),
        }
    }

    /// The default template, `{pid}`, as zc.lockfile has it.
    pub(crate) fn pid() -> Self {
        Self(Cow::Borrowed("{pid}"))
    }

    /// The bytes zc.lockfile writes: a space, the rendered template, a newline.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 16);
        out.push(' ');
        let mut rest = &*self.0;
        while let Some(at) = rest.find(['{', '}']) {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            // Valid by construction: each brace starts a placeholder or an escape.
            if let Some(after) = rest.strip_prefix("{pid}") {
                let _ = write!(out, "{}", std::process::id());
                rest = after;
            } else if let Some(after) = rest.strip_prefix("{hostname}") {
                out.push_str(&hostname());
                rest = after;
            } else {
                out.push_str(&rest[..1]);
                rest = &rest[2..];
            }
        }
        out.push_str(rest);
        out.push('\n');
        out
    }
}

/// The host name, looked up on every lock whose template uses it, as
/// zc.lockfile does: a `sethostname` (a container renamed, a host given its
/// name late in boot) shows in the next lock's content, and a holder is
/// compared with the name the host has now. One `uname(2)`, microseconds.
pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> String {
        Template::parse(template).unwrap().render()
    }

    fn bad(template: &str) -> String {
        Template::parse(template).unwrap_err().0
    }

    #[test]
    fn renders_like_zc_lockfile() {
        let pid = std::process::id();
        assert_eq!(render("{pid}"), format!(" {pid}\n"));
        assert_eq!(Template::pid().render(), format!(" {pid}\n"));
        assert_eq!(
            render("{pid};{hostname}"),
            format!(" {pid};{}\n", hostname())
        );
        assert_eq!(render(""), " \n");
    }

    #[test]
    fn escapes_literals_and_utf8() {
        let pid = std::process::id();
        assert_eq!(render("{{pid}}"), " {pid}\n");
        assert_eq!(render("a}}b{{c"), " a}b{c\n");
        assert_eq!(render("{{{pid}}}"), format!(" {{{pid}}}\n"));
        assert_eq!(render("größe {pid} ✓"), format!(" größe {pid} ✓\n"));
    }

    #[test]
    fn hostname_matches_the_system() {
        let expected = gethostname::gethostname();
        assert_eq!(hostname(), expected.to_string_lossy());
        assert!(!hostname().is_empty());
    }

    #[test]
    fn rejects_anything_else_naming_the_piece() {
        assert_eq!(bad("{foo}"), "{foo}");
        assert_eq!(bad("x{}y"), "{}");
        assert_eq!(bad("{pid"), "{pid");
        assert_eq!(bad("{pid:>8}"), "{pid:>8}");
        assert_eq!(bad("{pid!r}"), "{pid!r}");
        assert_eq!(bad("{0}"), "{0}");
        assert_eq!(bad("{ pid }"), "{ pid }");
        assert_eq!(bad("{pid{hostname}}"), "{pid");
        assert_eq!(bad("{pidx}"), "{pidx}");
        assert_eq!(bad("{pi}"), "{pi}");
        assert_eq!(bad("pid}"), "}");
        assert_eq!(bad("{pid}}"), "}");
        assert_eq!(bad("{"), "{");
        assert_eq!(bad("é{ü}"), "{ü}");
    }

    #[test]
    fn compile_time_messages_name_the_piece_and_the_mistake() {
        let message = |t: &str| TemplateError::of(t).map(|e| e.as_str().to_owned());
        assert_eq!(message("{pid};{hostname}"), None);
        assert_eq!(
            message("x{foo}y").unwrap(),
            "invalid content template: `{foo}` is not a placeholder: braces may hold only `{pid}` or `{hostname}`"
        );
        assert_eq!(
            message("{pid").unwrap(),
            "invalid content template: `{pid` is not closed: write `{{` for a literal brace"
        );
        assert_eq!(
            message("a}b").unwrap(),
            "invalid content template: a lone `}`: write `}}` for a literal brace"
        );
        // A long piece is cut at a character, never inside one.
        let long = format!("{{{}}}", "é".repeat(300));
        assert!(
            message(&long)
                .unwrap()
                .starts_with("invalid content template: `{éé")
        );
    }

    #[test]
    fn is_usable_in_const_context() {
        const INVALID: Option<(usize, usize)> = find_invalid("ab{x}");
        const { assert!(find_invalid("{pid};{hostname}").is_none()) };
        assert_eq!(INVALID, Some((2, 5)));
    }
}
