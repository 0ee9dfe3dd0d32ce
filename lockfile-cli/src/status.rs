//! `lockfile status`: is the lock held right now, and by whom.

use std::fmt::Write;
use std::path::Path;

use rustix::process::{Pid, test_kill_process};
use scoped_lockfile::{Probe, probe};

use crate::cli::StatusArgs;
use crate::{ERROR_EXIT, fail};

const FREE: u8 = 0;
const HELD: u8 = 1;

/// What a lock file's content says, when it has the `<pid>;<hostname>` or
/// `<pid>` shape that the default templates write.
#[derive(Debug, PartialEq, Eq)]
struct Holder<'a> {
    pid: u32,
    hostname: Option<&'a str>,
}

fn parse_holder(content: &str) -> Option<Holder<'_>> {
    let (pid, hostname) = match content.split_once(';') {
        Some((pid, hostname)) => (pid, Some(hostname)),
        None => (content, None),
    };
    let pid = pid.parse().ok()?;
    Some(Holder { pid, hostname })
}

/// Whether the holder's process runs, when it is on this host; `None` if that
/// cannot be known (no hostname, another host).
fn holder_alive(holder: &Holder<'_>, this_host: &str) -> Option<bool> {
    if holder.hostname != Some(this_host) {
        return None;
    }
    let pid = i32::try_from(holder.pid).ok().and_then(Pid::from_raw)?;
    // EPERM means it exists but belongs to someone else: alive all the same.
    Some(match test_kill_process(pid) {
        Ok(()) => true,
        Err(err) => err == rustix::io::Errno::PERM,
    })
}

pub(crate) fn status(args: &StatusArgs) -> u8 {
    let state = match probe(&args.path) {
        Ok(state) => state,
        Err(err) => return fail(&err, ERROR_EXIT),
    };
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
            Probe::Held { holder } => ("held", holder.content.as_deref()),
            Probe::Free { last_holder } => ("free", last_holder.content.as_deref()),
            _ => ("missing", None),
        };
        let holder = content.and_then(parse_holder);
        let on_this_host = holder
            .as_ref()
            .and_then(|h| h.hostname)
            .map(|hostname| hostname == this_host);
        let alive = holder.as_ref().and_then(|h| holder_alive(h, this_host));
        Self {
            path,
            state: name,
            content,
            holder,
            this_host: on_this_host,
            alive,
        }
    }

    fn sentence(&self) -> String {
        let path = self.path.display();
        let who = match (&self.holder, self.content) {
            (
                Some(Holder {
                    pid,
                    hostname: Some(host),
                }),
                _,
            ) => {
                let running = match (self.this_host, self.alive) {
                    (Some(true), Some(true)) => " (this host; the process is running)",
                    (Some(true), _) => " (this host; no such process)",
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
        match (self.state, who) {
            ("held", Some(who)) => format!("{path}: held by {who}"),
            ("held", None) => format!("{path}: held; the file does not say by whom"),
            ("free", Some(who)) => format!("{path}: free; last held by {who}"),
            ("free", None) => format!("{path}: free"),
            _ => format!("{path}: free; no such file"),
        }
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

/// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
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
            c if u32::from(c) < 0x20 => {
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
    fn parses_the_default_shapes_only() {
        assert_eq!(
            parse_holder("42;web-1"),
            Some(Holder {
                pid: 42,
                hostname: Some("web-1")
            })
        );
        assert_eq!(
            parse_holder("42"),
            Some(Holder {
                pid: 42,
                hostname: None
            })
        );
        assert_eq!(
            parse_holder("42;a;b"),
            Some(Holder {
                pid: 42,
                hostname: Some("a;b")
            })
        );
        assert_eq!(parse_holder("deploy by ann"), None);
        assert_eq!(parse_holder("-1;x"), None);
    }

    #[test]
    fn escapes_json_strings() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}é"),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }

    #[test]
    fn checks_liveness_only_on_this_host() {
        let me = Holder {
            pid: std::process::id(),
            hostname: Some("here"),
        };
        assert_eq!(holder_alive(&me, "here"), Some(true));
        assert_eq!(holder_alive(&me, "elsewhere"), None);
        let nameless = Holder {
            pid: std::process::id(),
            hostname: None,
        };
        assert_eq!(holder_alive(&nameless, "here"), None);
    }
}
