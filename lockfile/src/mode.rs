//! Python `open()` mode strings, as `OpenOptions`.

use std::fs::OpenOptions;

/// A parsed mode: how to open, and whether it writes (`w a x` or `+`).
pub(crate) struct Mode {
    pub(crate) options: OpenOptions,
    pub(crate) writes: bool,
}

/// Parses a mode the way Python's `open()` accepts it: exactly one of `r w a x`,
/// at most one `+`, at most one of `b`/`t`, each at most once, in any order.
/// Text and binary are the same to Rust, so `b`/`t` only need to be valid.
pub(crate) fn parse(mode: &str) -> Option<Mode> {
    let mut base = None;
    let (mut plus, mut text_or_binary) = (false, false);
    for c in mode.chars() {
        match c {
            'r' | 'w' | 'a' | 'x' if base.is_none() => base = Some(c),
            '+' if !plus => plus = true,
            'b' | 't' if !text_or_binary => text_or_binary = true,
            _ => return None,
        }
    }
    let base = base?;
    let mut options = OpenOptions::new();
    match base {
        'r' => options.read(true).write(plus),
        'w' => options.write(true).read(plus).create(true).truncate(true),
        'a' => options.append(true).read(plus).create(true),
        _ => options.write(true).read(plus).create_new(true),
    };
    Some(Mode {
        options,
        writes: base != 'r' || plus,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_every_python_mode() {
        for base in ["r", "w", "a", "x"] {
            for plus in ["", "+"] {
                for kind in ["", "b", "t"] {
                    for mode in [format!("{base}{plus}{kind}"), format!("{base}{kind}{plus}")] {
                        assert!(parse(&mode).is_some(), "{mode}");
                    }
                }
            }
        }
        assert!(parse("br").is_some());
        assert!(parse("+r").is_some());
    }

    #[test]
    fn knows_which_modes_write() {
        for (mode, writes) in [("r", false), ("rb", false), ("tr", false), ("r+", true)] {
            assert_eq!(parse(mode).unwrap().writes, writes, "{mode}");
        }
        for mode in ["w", "a", "x", "wb", "a+"] {
            assert!(parse(mode).unwrap().writes, "{mode}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for mode in [
            "", "rw", "q", "r++", "rbt", "bb", "+", "b", "R", "rU", "r ", "wa",
        ] {
            assert!(parse(mode).is_none(), "{mode:?}");
        }
    }
}
