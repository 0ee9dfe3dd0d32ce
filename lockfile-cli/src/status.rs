//! `lockfile status`: is the lock held right now, and by whom.

use std::fmt::Write;
use std::path::Path;

use scoped_lockfile::{Holder, Probe, probe};

use crate::cli::StatusArgs;
use crate::escape::for_terminal;
use crate::holder;
use crate::{ERROR_EXIT, fail};

pub(crate) const FREE: u8 = 0;
pub(crate) const HELD: u8 = 1;

pub(crate) fn status(args: &StatusArgs) -> u8 {
    #[cfg(feature = "etcd")]
    if let Some(endpoints) = &args.etcd {
        return crate::etcd::status(args, endpoints);
    }
    // A path whose directory does not exist is an error here, not a free lock.
    let state = match probe(&args.path) {
        Ok(state) => state,
        Err(err) => return fail(&err, ERROR_EXIT),
    };
    let report = Report::new(&args.path, &state);
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

struct Report<'a> {
    path: &'a Path,
    state: &'static str,
    holder: Option<&'a Holder>,
}

impl<'a> Report<'a> {
    fn new(path: &'a Path, state: &'a Probe) -> Self {
        let (name, holder) = match state {
            Probe::Held { holder } if holder.shared => ("held shared", Some(holder)),
            Probe::Held { holder } => ("held", Some(holder)),
            Probe::Free { last_holder } => ("free", Some(last_holder)),
            _ => ("missing", None),
        };
        Self {
            path,
            state: name,
            holder,
        }
    }

    fn content(&self) -> Option<&'a str> {
        self.holder.and_then(|holder| holder.content.as_deref())
    }

    /// One line for a person; what came from the file (and the path) escaped.
    fn sentence(&self) -> String {
        let path = self.path.display().to_string();
        let who = self.holder.and_then(|holder| {
            let Some(named) = holder::describe(holder) else {
                return holder.content.clone();
            };
            let running = match (self.state, holder.is_this_host(), holder.is_alive()) {
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
            Some(format!("{named}{running}"))
        });
        let sentence = match (self.state, who) {
            ("held", Some(who)) => format!("{path}: held by {who}"),
            ("held", None) => format!("{path}: held; the file does not say by whom"),
            // Readers write nothing: the content is the last writer's.
            ("held shared", Some(who)) => format!("{path}: held shared; last written by {who}"),
            ("held shared", None) => format!("{path}: held shared"),
            ("free", Some(who)) => format!("{path}: free; last held by {who}"),
            ("free", None) => format!("{path}: free"),
            _ => format!("{path}: free; no such file"),
        };
        for_terminal(&sentence).into_owned()
    }

    fn json(&self) -> String {
        let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
        let flag = |value: Option<bool>| value.map_or_else(|| "null".to_owned(), |b| b.to_string());
        let holder = self.holder;
        let pid = holder
            .and_then(Holder::pid)
            .map_or_else(|| "null".to_owned(), |pid| pid.to_string());
        format!(
            "{{\"path\":{},\"state\":\"{}\",\"content\":{},\"pid\":{},\"hostname\":{},\"this_host\":{},\"pid_alive\":{}}}",
            json_string(&self.path.to_string_lossy()),
            self.state,
            text(self.content()),
            pid,
            text(holder.and_then(Holder::hostname)),
            flag(holder.and_then(Holder::is_this_host)),
            flag(holder.and_then(Holder::is_alive)),
        )
    }
}

/// A JSON string literal (RFC 8259: quote, backslash and control characters
/// escaped, and the characters `escape::for_terminal` escapes).
pub(crate) fn json_string(value: &str) -> String {
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
