//! flock(1)'s command line, read as its `getopt_long(3)` reads it: options
//! first (`-nx`, `-w5`, `-w 5`, `--timeout=5`, unambiguous prefixes such as
//! `--non`), up to `--` or the first operand; whatever follows belongs to the
//! file and the command, `-c` after the file included. Options are acted on in
//! order, so `--help` answers at once and the first bad option is the error.

use std::ffi::{OsStr, OsString};
use std::fmt::Write;

use super::number::{NotANumber, parse_c_float, parse_c_int};
use crate::sys::Kind;

/// Everything the options say.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // one per flag, as flock(1) has them
pub(super) struct Options {
    pub(super) kind: Kind,
    pub(super) nonblock: bool,
    /// `-w` seconds, as strtold(3) read them; checked when the wait starts.
    pub(super) timeout: Option<f64>,
    pub(super) conflict_exit_code: u8,
    pub(super) close: bool,
    pub(super) no_fork: bool,
    pub(super) verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kind: Kind::Exclusive,
            nonblock: false,
            timeout: None,
            conflict_exit_code: 1,
            close: false,
            no_fork: false,
            verbose: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub(super) enum Request {
    /// Lock, with these options, the operands after them.
    Lock(Options, Vec<OsString>),
    Help,
    Version,
}

/// A usage error: its message, and whether flock(1) adds "Try '... --help'".
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Usage {
    pub(super) message: Option<String>,
    pub(super) try_help: bool,
}

impl Usage {
    fn say(message: String) -> Self {
        Self {
            message: Some(message),
            try_help: false,
        }
    }

    fn getopt(message: String) -> Self {
        Self {
            message: Some(message),
            try_help: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Shared,
    Exclusive,
    Unlock,
    Nonblock,
    Timeout,
    ConflictExitCode,
    Close,
    NoFork,
    Verbose,
    Help,
    Version,
}

impl Opt {
    fn takes_value(self) -> bool {
        matches!(self, Self::Timeout | Self::ConflictExitCode)
    }

    fn short(c: char) -> Option<Self> {
        Some(match c {
            's' => Self::Shared,
            'e' | 'x' => Self::Exclusive,
            'u' => Self::Unlock,
            'n' => Self::Nonblock,
            'w' => Self::Timeout,
            'E' => Self::ConflictExitCode,
            'o' => Self::Close,
            'F' => Self::NoFork,
            'h' => Self::Help,
            'V' => Self::Version,
            _ => return None,
        })
    }
}

/// flock(1)'s long options, in its order (which decides ambiguity messages).
const LONG: [(&str, Opt); 13] = [
    ("shared", Opt::Shared),
    ("exclusive", Opt::Exclusive),
    ("unlock", Opt::Unlock),
    ("nonblocking", Opt::Nonblock),
    ("nb", Opt::Nonblock),
    ("timeout", Opt::Timeout),
    ("wait", Opt::Timeout),
    ("conflict-exit-code", Opt::ConflictExitCode),
    ("close", Opt::Close),
    ("no-fork", Opt::NoFork),
    ("verbose", Opt::Verbose),
    ("help", Opt::Help),
    ("version", Opt::Version),
];

/// Reads `args` (without the program name).
pub(super) fn parse(args: &[OsString]) -> Result<Request, Usage> {
    let mut options = Options::default();
    let mut rest = args.iter();
    let mut operands = Vec::new();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(OsString::from(value))),
                None => (long, None),
            };
            let (full, opt) = find_long(name, &text)?;
            let value = match (opt.takes_value(), inline) {
                (true, Some(value)) => Some(value),
                (true, None) => Some(rest.next().cloned().ok_or_else(|| {
                    Usage::getopt(format!("option '--{full}' requires an argument"))
                })?),
                (false, Some(_)) => {
                    return Err(Usage::getopt(format!(
                        "option '--{full}' doesn't allow an argument"
                    )));
                }
                (false, None) => None,
            };
            if let Some(request) = apply(&mut options, opt, value.as_deref())? {
                return Ok(request);
            }
        } else if text.len() > 1 && text.starts_with('-') {
            let cluster: Vec<char> = text[1..].chars().collect();
            let mut at = 0;
            while at < cluster.len() {
                let c = cluster[at];
                at += 1;
                let Some(opt) = Opt::short(c) else {
                    // flock(1) lists `?` as an option of its own: no message.
                    return Err(if c == '?' {
                        Usage {
                            message: None,
                            try_help: true,
                        }
                    } else {
                        Usage::getopt(format!("invalid option -- '{c}'"))
                    });
                };
                let value = if opt.takes_value() {
                    let attached: String = cluster[at..].iter().collect();
                    at = cluster.len();
                    if attached.is_empty() {
                        Some(rest.next().cloned().ok_or_else(|| {
                            Usage::getopt(format!("option requires an argument -- '{c}'"))
                        })?)
                    } else {
                        Some(OsString::from(attached))
                    }
                } else {
                    None
                };
                if let Some(request) = apply(&mut options, opt, value.as_deref())? {
                    return Ok(request);
                }
            }
        } else {
            operands.push(arg.clone());
            break;
        }
    }
    operands.extend(rest.cloned());
    Ok(Request::Lock(options, operands))
}

/// The long option `name` stands for: exact, or the unambiguous prefix of
/// one. `arg` is the whole argument, which getopt's messages quote.
///
/// Ambiguity is glibc's: the first option the prefix matches, and every
/// other that does something else than that first one (`--n` is
/// `--nonblocking` or `--no-fork`, `--nb` being the same as the first).
fn find_long(name: &str, arg: &str) -> Result<(&'static str, Opt), Usage> {
    if let Some(&found) = LONG.iter().find(|(full, _)| *full == name) {
        return Ok(found);
    }
    let matches: Vec<_> = LONG
        .iter()
        .filter(|(full, _)| full.starts_with(name))
        .collect();
    match matches.as_slice() {
        [] => Err(Usage::getopt(format!("unrecognized option '{arg}'"))),
        [first, others @ ..] if others.iter().all(|(_, opt)| *opt == first.1) => Ok(**first),
        [first, others @ ..] => {
            let mut possibilities = format!(" '--{}'", first.0);
            for (full, opt) in others {
                if *opt != first.1 {
                    let _ = write!(possibilities, " '--{full}'");
                }
            }
            Err(Usage::getopt(format!(
                "option '{arg}' is ambiguous; possibilities:{possibilities}"
            )))
        }
    }
}

/// util-linux's message for a bad number: `invalid timeout value: 'x'`, and
/// strerror(ERANGE) after it for one out of range.
fn bad_number(what: &str, text: &str, why: NotANumber) -> Usage {
    Usage::say(match why {
        NotANumber::Invalid => format!("{what}: '{text}'"),
        NotANumber::OutOfRange => format!("{what}: '{text}': Numerical result out of range"),
    })
}

/// Acts on one option; `Some` when it answers the whole command line.
fn apply(options: &mut Options, opt: Opt, value: Option<&OsStr>) -> Result<Option<Request>, Usage> {
    let value = value.map(OsStr::to_string_lossy);
    match opt {
        Opt::Shared => options.kind = Kind::Shared,
        Opt::Exclusive => options.kind = Kind::Exclusive,
        Opt::Unlock => options.kind = Kind::Unlock,
        Opt::Nonblock => options.nonblock = true,
        Opt::Close => options.close = true,
        Opt::NoFork => options.no_fork = true,
        Opt::Verbose => options.verbose = true,
        Opt::Help => return Ok(Some(Request::Help)),
        Opt::Version => return Ok(Some(Request::Version)),
        Opt::Timeout => {
            let text = value.unwrap_or_default();
            let seconds = parse_c_float(&text)
                .map_err(|why| bad_number("invalid timeout value", &text, why))?;
            options.timeout = Some(seconds);
        }
        Opt::ConflictExitCode => {
            let text = value.unwrap_or_default();
            let code =
                parse_c_int(&text).map_err(|why| bad_number("invalid exit code", &text, why))?;
            options.conflict_exit_code = u8::try_from(code)
                .map_err(|_| Usage::say("exit code out of range (expected 0 to 255)".to_owned()))?;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(args: &[&str]) -> (Options, Vec<String>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args) {
            Ok(Request::Lock(options, operands)) => (
                options,
                operands
                    .iter()
                    .map(|o| o.to_string_lossy().into_owned())
                    .collect(),
            ),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args) {
            Err(usage) => usage.message.unwrap_or_default(),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn reads_clusters_attached_values_and_prefixes() {
        let (options, operands) = lock(&["-nsw5", "--conf=7", "--verb", "f", "-c", "x"]);
        assert!(options.nonblock && options.verbose);
        assert_eq!(options.kind, Kind::Shared);
        assert_eq!(options.timeout, Some(5.0));
        assert_eq!(options.conflict_exit_code, 7);
        assert_eq!(operands, ["f", "-c", "x"]);
        let (options, operands) = lock(&["-w", "-1", "--", "-n", "true"]);
        assert_eq!(options.timeout, Some(-1.0));
        assert!(!options.nonblock);
        assert_eq!(operands, ["-n", "true"]);
        // Options stop at the first operand, as with getopt's "+".
        let (options, operands) = lock(&["f", "-n", "true"]);
        assert!(!options.nonblock);
        assert_eq!(operands, ["f", "-n", "true"]);
        assert_eq!(lock(&["-", "x"]).1, ["-", "x"]);
    }

    #[test]
    fn says_what_getopt_says() {
        assert_eq!(error(&["-z"]), "invalid option -- 'z'");
        assert_eq!(error(&["--zz"]), "unrecognized option '--zz'");
        assert_eq!(error(&["--zz=5"]), "unrecognized option '--zz=5'");
        assert_eq!(
            error(&["--=5"]),
            "option '--=5' is ambiguous; possibilities: '--shared' '--exclusive' '--unlock' \
             '--nonblocking' '--nb' '--timeout' '--wait' '--conflict-exit-code' '--close' \
             '--no-fork' '--verbose' '--help' '--version'"
        );
        assert_eq!(
            error(&["-E", "99999999999"]),
            "invalid exit code: '99999999999': Numerical result out of range"
        );
        assert_eq!(
            error(&["-w", "1e5000"]),
            "invalid timeout value: '1e5000': Numerical result out of range"
        );
        assert_eq!(
            error(&["--n", "f", "true"]),
            "option '--n' is ambiguous; possibilities: '--nonblocking' '--no-fork'"
        );
        assert_eq!(error(&["-w"]), "option requires an argument -- 'w'");
        assert_eq!(
            error(&["--timeout"]),
            "option '--timeout' requires an argument"
        );
        assert_eq!(
            error(&["--verbose=1"]),
            "option '--verbose' doesn't allow an argument"
        );
        assert_eq!(error(&["-w1n"]), "invalid timeout value: '1n'");
        assert_eq!(
            error(&["-E", "256"]),
            "exit code out of range (expected 0 to 255)"
        );
        assert_eq!(error(&["-c", "true"]), "invalid option -- 'c'");
    }

    #[test]
    fn help_and_version_answer_at_once() {
        let args: Vec<OsString> = ["-h", "-z"].iter().map(OsString::from).collect();
        assert!(matches!(parse(&args), Ok(Request::Help)));
        let args: Vec<OsString> = ["--vers"].iter().map(OsString::from).collect();
        assert!(matches!(parse(&args), Ok(Request::Version)));
    }
}
