//! Content templates: what a lock file says about its holder.

use std::sync::OnceLock;

/// A parsed content template, e.g. `{pid};{hostname}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Pid,
    Hostname,
}

/// The part of a template that is not a valid placeholder or escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPlaceholder(pub(crate) String);

impl Template {
    /// Parses Python `str.format` syntax restricted to `{pid}`, `{hostname}`, `{{`
    /// and `}}`: everything zc.lockfile's templates can use that means the same
    /// thing here. Format specs (`{pid:>8}`) and conversions are rejected rather
    /// than half-supported.
    pub(crate) fn parse(template: &str) -> Result<Self, BadPlaceholder> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(at) = rest.find(['{', '}']) {
            text.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("{{") {
                text.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                text.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err(BadPlaceholder("}".to_owned()));
            } else {
                // An opening brace: the placeholder runs to the next brace of either
                // kind, which must be its closing one.
                let end = tail[1..].find(['{', '}']).map(|i| i + 1);
                let Some(end) = end.filter(|&end| tail.as_bytes()[end] == b'}') else {
                    let upto = end.unwrap_or(tail.len());
                    return Err(BadPlaceholder(tail[..upto].to_owned()));
                };
                let piece = match &tail[1..end] {
                    "pid" => Piece::Pid,
                    "hostname" => Piece::Hostname,
                    _ => return Err(BadPlaceholder(tail[..=end].to_owned())),
                };
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(piece);
                rest = &tail[end + 1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// The default template, `{pid}`, as zc.lockfile has it.
    pub(crate) fn pid() -> Self {
        Self {
            pieces: vec![Piece::Pid],
        }
    }

    /// The bytes zc.lockfile writes: a space, the rendered template, a newline.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(" ");
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Pid => out.push_str(&std::process::id().to_string()),
                Piece::Hostname => out.push_str(hostname()),
            }
        }
        out.push('\n');
        out
    }
}

/// The host name, looked up once per process and only if a template uses it.
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| gethostname::gethostname().to_string_lossy().into_owned())
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
        assert_eq!(bad("pid}"), "}");
        assert_eq!(bad("{pid}}"), "}");
        assert_eq!(bad("{"), "{");
    }
}
