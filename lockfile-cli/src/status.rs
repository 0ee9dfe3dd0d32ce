//! `lockfile status`: is the lock held right now, and by whom.

use std::fmt::Write;
use std::path::Path;

use scoped_lockfile::{Probe, probe};

use crate::cli::StatusArgs;
use crate::escape::for_terminal;
use crate::holder::{self, Holder};
use crate::{ERROR_EXIT, fail};

const FREE: u8 = 0;
const HELD: u8 = 1;

pub(crate) fn status(args: &StatusArgs) -> u8 {
    let state = match probe(&args.path) {
        Ok(state) => state,
        Err(err) => return fail(&err, ERROR_EXIT),
    };
    if state == Probe::Missing
        && let Some(problem) = missing_directory(&args.path)
    {
        return fail(&problem, ERROR_EXIT);
    }
    let this_host = gethostname::gethostname().to_string_lossy().into_owned();
    let report = Report::new(&args.path, &state, &this_host);
    if args.json {
        println!("{}", report.json());
    } else {
        println!("{}", report.sentence());
    }
    match state {
        Probe::Held { .. } => HELD,
        _ => FREE,
    }
}

/// For a path with no file: the problem if its directory is missing too, which
/// is a typo rather than a free lock.
fn missing_directory(path: &Path) -> Option<String> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(format!(
            "'{}': '{}' is not a directory",
            path.display(),
            parent.display()
        )),
        Err(err) => Some(format!(
            "'{}': no directory '{}': {err}",
            path.display(),
            parent.display()
        )),
    }
}

struct Report<'a> {
    path: &'a Path,
    state: &'static str,
    content: Option<&'a str>,
    holder: Option<Holder<'a>>,
    this_host: Option<bool>,
    alive: Option<bool>,
}

impl<'a> Report<'a> {
    fn new(path: &'a Path, state: &'a Probe, this_host: &str) -> Self {
        let (name, content) = match state {
            Probe::Held { holder } => ("held", holder.as_deref()),
            Probe::Free { last_holder } => ("free", last_holder.as_deref()),
            _ => ("missing", None),
        };
        let holder = content.and_then(holder::parse);
        let on_this_host = holder
            .as_ref()
            .and_then(|h| h.hostname)
            .map(|hostname| hostname == this_host);
        let alive = holder.as_ref().and_then(|h| h.alive(this_host));
        Self {
            path,
            state: name,
            content,
            holder,
            this_host: on_this_host,
            alive,
        }
    }

    /// One line for a person; what came from the file (and the path) escaped.
    fn sentence(&self) -> String {
        let path = self.path.display().to_string();
        let who = match (&self.holder, self.content) {
            (
                Some(Holder {
                    pid,
                    hostname: Some(host),
                }),
                _,
            ) => {
                let running = match (self.state, self.this_host, self.alive) {
                    (_, Some(true), Some(true)) => " (this host; the process is running)",
                    // The recorded process is gone, yet the lock is held: by a
                    // process that inherited it, such as the command of a
                    // `lockfile run` that was killed.
                    ("held", Some(true), _) => {
                        " (this host; that process is gone, and a process that inherited \
                         its lock, such as its command, still holds it)"
                    }
                    (_, Some(true), _) => " (this host; no such process)",
                    _ => "",
                };
                Some(format!("pid {pid} on {host}{running}"))
            }
            (
                Some(Holder {
                    pid,
                    hostname: None,
                }),
                _,
            ) => Some(format!("pid {pid}")),
            (None, content) => content.map(str::to_owned),
        };
        let sentence = match (self.state, who) {
            ("held", Some(who)) => format!("{path}: held by {who}"),
            ("held", None) => format!("{path}: held; the file does not say by whom"),
            ("free", Some(who)) => format!("{path}: free; last held by {who}"),
            ("free", None) => format!("{path}: free"),
            _ => format!("{path}: free; no such file"),
        };
        for_terminal(&sentence).into_owned()
    }

    fn json(&self) -> String {
        let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
        let flag = |value: Option<bool>| value.map_or_else(|| "null".to_owned(), |b| b.to_string());
        let pid = self
            .holder
            .as_ref()
            .map_or_else(|| "null".to_owned(), |h| h.pid.to_string());
        format!(
            "{{\"path\":{},\"state\":\"{}\",\"content\":{},\"pid\":{},\"hostname\":{},\"this_host\":{},\"pid_alive\":{}}}",
            json_string(&self.path.to_string_lossy()),
            self.state,
            text(self.content),
            pid,
            text(self.holder.as_ref().and_then(|h| h.hostname)),
            flag(self.this_host),
            flag(self.alive),
        )
    }
}

/// A JSON string literal (RFC 8259: quote, backslash and control characters
/// escaped, and the characters `escape::for_terminal` escapes).
fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Control and invisible formatting characters, as the sentence
            // escapes them: valid JSON either way, and safe to print raw.
            c if crate::escape::needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_strings() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}é\u{202e}\u{7f}"),
            "\"a\\\"b\\\\c\\nd\\u0001é\\u202e\\u007f\""
        );
    }
}
