//! The report stage of `lockfile status`: one [`Status`] value, whichever
//! backend looked, rendered as one sentence or as one JSON object with the
//! same fields for every backend.

use std::fmt::Write;

use scoped_lockfile::{Holder, KernelView};

use crate::describe::{self, Medium};
use crate::escape::for_terminal;
use crate::report::{self, ERROR_EXIT};

/// Exit statuses of `status`.
const FREE: u8 = 0;
const HELD: u8 = 1;

/// Whether a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// No lock file: nobody holds it (files only).
    Missing,
    Free,
    Held,
    /// Held by readers (files only).
    HeldShared,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Free => "free",
            Self::Held => "held",
            Self::HeldShared => "held shared",
        }
    }
}

/// What a backend saw of a lock, right now.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    /// The lock file's path or the etcd lock's name, as given.
    pub(crate) name: String,
    pub(crate) medium: Medium,
    pub(crate) state: State,
    /// Who holds it (held), or who last did (a free lock file); `None` when
    /// nothing can say (a missing file, a free etcd lock).
    pub(crate) holder: Option<Holder>,
    /// The holder's fencing token (etcd).
    pub(crate) fencing_token: Option<u64>,
    /// How many wait for it (etcd).
    pub(crate) waiting: Option<u64>,
}

impl Status {
    /// The exit status: 0 free, 1 held.
    fn code(&self) -> u8 {
        match self.state {
            State::Held | State::HeldShared => HELD,
            State::Free | State::Missing => FREE,
        }
    }

    /// One line for a person; what came from the file (and the name) escaped.
    pub(crate) fn sentence(&self) -> String {
        let name = &self.name;
        let mut sentence = match (self.state, &self.holder) {
            (State::Missing, _) => format!("{name}: free; no such file"),
            (State::Free, None) => format!("{name}: free"),
            (State::Free, Some(last)) => {
                format!("{name}: {}", describe::free_in_detail(last, self.medium))
            }
            (State::Held | State::HeldShared, Some(holder)) => {
                format!("{name}: {}", describe::held_in_detail(holder, self.medium))
            }
            (State::HeldShared, None) => format!("{name}: held shared"),
            (State::Held, None) => format!(
                "{name}: {}",
                describe::held(&Holder::new(None), self.medium)
            ),
        };
        if let Some(token) = self.fencing_token {
            let _ = write!(sentence, "; fencing token {token}");
        }
        if let Some(waiting) = self.waiting
            && self.state != State::Free
        {
            let _ = write!(sentence, ", {waiting} waiting");
        }
        for_terminal(&sentence).into_owned()
    }

    /// The JSON object: the same fields for every backend, `null` where one
    /// does not apply.
    pub(crate) fn json(&self) -> String {
        let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
        let flag = |value: Option<bool>| value.map_or_else(|| "null".to_owned(), |b| b.to_string());
        let number =
            |value: Option<u64>| value.map_or_else(|| "null".to_owned(), |n| n.to_string());
        let holder = self.holder.as_ref();
        let backend = match self.medium {
            Medium::File => "file",
            Medium::Key => "etcd",
        };
        format!(
            "{{\"name\":{},\"backend\":\"{backend}\",\"state\":\"{}\",\"content\":{},\
             \"pid\":{},\"hostname\":{},\"this_host\":{},\"pid_alive\":{},\
             \"pid_holds\":{},\"kernel\":{},\"holders\":{},\
             \"fencing_token\":{},\"waiting\":{}}}",
            json_string(&self.name),
            self.state.name(),
            text(holder.and_then(|h| h.content.as_deref())),
            number(holder.and_then(Holder::pid).map(u64::from)),
            text(holder.and_then(Holder::hostname)),
            flag(holder.and_then(Holder::is_this_host)),
            flag(holder.and_then(Holder::is_alive)),
            flag(holder.and_then(Holder::names_a_holder)),
            json_string(kernel_state(holder.map(|h| &*h.kernel))),
            holders_json(holder.map(|h| &*h.kernel)),
            number(self.fencing_token),
            number(self.waiting),
        )
    }
}

/// `"held"`, `"free"`, `"unseen"` or `"unknown"`: what the kernel's view
/// said (`"unknown"` for etcd and where there is no view).
fn kernel_state(view: Option<&KernelView>) -> &'static str {
    match view {
        Some(KernelView::Held { .. }) => "held",
        Some(KernelView::Free { .. }) => "free",
        Some(KernelView::Unseen) => "unseen",
        _ => "unknown",
    }
}

/// `[{"pid":20520,"command":"flock","inherited":false,"taken_by":20520}, ...]`
/// for every holder the kernel names; `null` where it names none (no view,
/// unseen holders, a free lock, etcd).
fn holders_json(view: Option<&KernelView>) -> String {
    let Some(view) = view.filter(|view| view.holders().next().is_some()) else {
        return "null".to_owned();
    };
    let holders: Vec<String> = view
        .holders()
        .map(|(lock, process)| {
            format!(
                "{{\"pid\":{},\"command\":{},\"inherited\":{},\"taken_by\":{}}}",
                process.pid,
                process
                    .command
                    .as_deref()
                    .map_or_else(|| "null".to_owned(), json_string),
                lock.inherited(process),
                lock.taken_by
                    .as_ref()
                    .map_or_else(|| "null".to_owned(), |taker| taker.pid.to_string()),
            )
        })
        .collect();
    format!("[{}]", holders.join(","))
}

/// Prints `status` as asked and gives the exit status: 0 free, 1 held, 2 if
/// the answer could not be written.
pub(crate) fn report(status: &Status, json: bool) -> u8 {
    let line = if json {
        status.json()
    } else {
        status.sentence()
    };
    match report::answer(&line) {
        Ok(()) => status.code(),
        // `lockfile status x | grep -q held`: grep has its answer.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            crate::sys::broken_pipe(status.code())
        }
        Err(err) => report::fail(
            &format!("write error: {}", report::strerror(&err)),
            ERROR_EXIT,
        ),
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

    fn status(medium: Medium, state: State, content: Option<&str>) -> Status {
        Status {
            name: "x".to_owned(),
            medium,
            state,
            holder: content.map(|c| Holder::new(Some(c.to_owned()))),
            fencing_token: None,
            waiting: None,
        }
    }

    #[test]
    fn one_schema_for_every_backend() {
        let keys = |json: &str| -> Vec<String> {
            json.split(&[',', '{'][..])
                .filter_map(|field| field.split_once("\":").map(|(key, _)| key.to_owned()))
                .collect()
        };
        let file = status(Medium::File, State::Held, Some("1;elsewhere")).json();
        let mut etcd = status(Medium::Key, State::Held, Some("1;elsewhere"));
        etcd.fencing_token = Some(7);
        etcd.waiting = Some(0);
        assert_eq!(keys(&file), keys(&etcd.json()));
        assert!(file.starts_with("{\"name\":\"x\",\"backend\":\"file\",\"state\":\"held\""));
        assert!(etcd.json().ends_with("\"fencing_token\":7,\"waiting\":0}"));
    }
}
