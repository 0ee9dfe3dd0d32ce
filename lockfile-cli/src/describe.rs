//! The one place that words a holder: `pid 42 on web-1`, `held shared`,
//! `the file does not say by whom`, for every backend, every command and
//! every message (`run -v`, conflicts, `status`, `flock --verbose`).
//!
//! Only the shapes our locks and zc.lockfile's write are taken for a holder:
//! `<pid>` and `<pid>;<hostname>`. Anything else in a lock file (a custom
//! `--content-template`, or a file that is no lock file at all, such as
//! `/etc/passwd`) is quoted as what the file says, never as who holds it.
//!
//! Where the kernel names the holders (Linux; the library's `KernelView`),
//! they come first, and a content whose pid is not one of them is worded as
//! an earlier holder's (or as a pid that now runs something else):
//! `held by pid 20520 (flock); the file names pid 20464, an earlier holder`.

use scoped_lockfile::Holder;

/// Where a lock's holder names itself: a lock file's content, or an etcd
/// lock's key value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Medium {
    File,
    #[allow(dead_code)] // made by the etcd backend only
    Key,
}

impl Medium {
    fn name(self) -> &'static str {
        match self {
            Self::File => "the file",
            Self::Key => "its key",
        }
    }
}

/// How much of a content that names no holder is quoted.
const QUOTED: usize = 60;

/// `pid 42 on web-1` or `pid 42` when the content has one of the holder
/// shapes, else `None`; then ` (test db::one)` when a `#[locked]` test wrote
/// its name (escaped for the terminal).
pub(crate) fn named(holder: &Holder) -> Option<String> {
    let pid = holder.pid()?;
    let named = match holder.hostname() {
        Some(host) => format!("pid {pid} on {host}"),
        None => format!("pid {pid}"),
    };
    Some(match &holder.test {
        Some(test) => format!("{named} (test {})", crate::escape::for_terminal(test)),
        None => named,
    })
}

/// `the file says "…"`: a content that names no holder, quoted and cut short.
fn says(content: &str, medium: Medium) -> String {
    let mut shown: String = content.chars().take(QUOTED).collect();
    if shown.len() < content.len() {
        shown.push('…');
    }
    format!("{} says \"{shown}\"", medium.name())
}

/// Who holds a lock held right now, for a message: `held by pid 42 on
/// web-1`, `held shared`, `held; the file does not say by whom`, or that
/// fair waiters come first (`--fair`'s one try); with the
/// kernel's view, `held by pid 20520 (flock); the file names pid 20464, an
/// earlier holder`, `held by pid 3121 (nightly-daemon), which inherited it
/// from pid 3100 (gone)`.
pub(crate) fn held(holder: &Holder, medium: Medium) -> String {
    if holder.fair_waiters_first {
        return "fair waiters are queued for it, and --fair does not overtake them".to_owned();
    }
    if holder.shared {
        return "held shared".to_owned();
    }
    if let Some(kernel) = holder.kernel.describe_holders() {
        return match (holder.names_a_holder(), named(holder), &holder.content) {
            (Some(true), Some(named), _) => format!("held by {named}"),
            (_, Some(named), _) => {
                let what = if took_it(holder) {
                    "which took it"
                } else {
                    earlier(holder)
                };
                format!("held by {kernel}; {} names {named}, {what}", medium.name())
            }
            (_, None, Some(content)) => {
                format!(
                    "held by {kernel}; {}, which names no holder",
                    says(content, medium)
                )
            }
            (_, None, None) => format!("held by {kernel}"),
        };
    }
    match (named(holder), &holder.content) {
        (Some(named), _) => format!("held by {named}"),
        (None, Some(content)) => format!("held; {}, which names no holder", says(content, medium)),
        (None, None) => match medium {
            Medium::File => "held; the file does not say by whom".to_owned(),
            Medium::Key => "held; its key does not say by whom (etcdctl lock?)".to_owned(),
        },
    }
}

/// Whether the content's pid is the one that took the lock (and has let go
/// of it since, leaving it to a process that inherited it).
fn took_it(holder: &Holder) -> bool {
    holder.pid().is_some_and(|pid| {
        holder
            .kernel
            .flock_locks()
            .any(|lock| lock.taken_by.as_ref().is_some_and(|taker| taker.pid == pid))
    })
}

/// What a content's pid that the kernel does not list as a holder was.
fn earlier(holder: &Holder) -> &'static str {
    match holder.pid_is_running() {
        Some(true) => {
            "which is running but does not hold it (a reused pid, or another pid namespace's)"
        }
        _ => "an earlier holder",
    }
}

/// What `status` says of a held lock: [`held`], with whether the holder
/// named runs on this host, and for a file held shared, the readers the
/// kernel names and its last writer.
pub(crate) fn held_in_detail(holder: &Holder, medium: Medium) -> String {
    let named = named(holder);
    if holder.shared {
        let readers = holder
            .kernel
            .describe_holders()
            .map(|readers| format!(" by {readers}"))
            .unwrap_or_default();
        return match named {
            // Readers write nothing: the content is the last writer's.
            Some(named) => format!(
                "held shared{readers}; last written by {named}{}",
                here(holder, None)
            ),
            None => format!("held shared{readers}"),
        };
    }
    match named {
        // Confirmed by the kernel, or nothing to tell it by.
        Some(named) if holder.names_a_holder() != Some(false) => {
            let command = holder
                .kernel
                .holders()
                .find(|(_, process)| Some(process.pid) == holder.pid())
                .and_then(|(_, process)| process.command.clone())
                .filter(|_| holder.hostname().is_none())
                .map(|command| format!(" ({command})"))
                .unwrap_or_default();
            format!("held by {named}{command}{}", here(holder, Some(medium)))
        }
        _ => held(holder, medium),
    }
}

/// What `status` says of a free lock whose file names its last holder (or
/// says something else).
pub(crate) fn free_in_detail(last: &Holder, medium: Medium) -> String {
    match (named(last), &last.content) {
        (Some(named), _) => format!("free; last held by {named}{}", here(last, None)),
        (None, Some(content)) => format!("free; {}", says(content, medium)),
        (None, None) => "free".to_owned(),
    }
}

/// ` (this host; the process is running)` and the like, when the holder
/// names this host; `held` says what holds the lock while it is held.
fn here(holder: &Holder, held: Option<Medium>) -> &'static str {
    match (holder.is_this_host(), holder.is_alive(), held) {
        (Some(true), Some(true), _) => " (this host; the process is running)",
        // The recorded process is gone, yet the lock is held: by a process
        // that inherited it, such as the command of a `lockfile run` that
        // was killed.
        (Some(true), _, Some(Medium::File)) => {
            " (this host; that process is gone, and a process that inherited its lock, \
             such as its command, still holds it)"
        }
        // A lease outlives its holder by up to its TTL.
        (Some(true), _, Some(Medium::Key)) => {
            " (this host; no such process: the lock ends with its lease)"
        }
        (Some(true), _, None) => " (this host; no such process)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(content: &str) -> Holder {
        Holder::new(Some(content.to_owned()))
    }

    #[test]
    fn names_the_test_a_locked_test_wrote() {
        assert_eq!(
            named(&holder("42\ntest db::one (pid 42)")).as_deref(),
            Some("pid 42 (test db::one)")
        );
        // Another process's test line (an old tail) is not this holder's.
        assert_eq!(
            named(&holder("42\ntest db::one (pid 7)")).as_deref(),
            Some("pid 42")
        );
    }

    #[test]
    fn fair_waiters_first_is_said_instead_of_an_earlier_holders_content() {
        let mut refused = holder("42;web-1");
        refused.fair_waiters_first = true;
        assert_eq!(
            held(&refused, Medium::File),
            "fair waiters are queued for it, and --fair does not overtake them"
        );
    }

    #[test]
    fn names_the_holder_shapes_only() {
        assert_eq!(
            named(&holder("42;web-1")).as_deref(),
            Some("pid 42 on web-1")
        );
        assert_eq!(named(&holder("42")).as_deref(), Some("pid 42"));
        assert_eq!(named(&holder("42;a;b")).as_deref(), Some("pid 42 on a;b"));
        for other in ["deploy by ann", "-1;x", "+1", "", ";x", "99999999999"] {
            assert_eq!(named(&holder(other)), None, "{other}");
        }
    }

    #[test]
    fn what_is_not_a_holder_is_quoted_not_named() {
        let passwd = holder("root:x:0:0:root:/root:/bin/bash");
        assert_eq!(
            free_in_detail(&passwd, Medium::File),
            "free; the file says \"root:x:0:0:root:/root:/bin/bash\""
        );
        assert_eq!(
            held(&passwd, Medium::File),
            "held; the file says \"root:x:0:0:root:/root:/bin/bash\", which names no holder"
        );
        let long = holder(&"x".repeat(100));
        assert!(held(&long, Medium::File).contains(&format!("\"{}…\"", "x".repeat(60))));
    }

    #[test]
    fn without_a_kernel_view_the_content_is_all_there_is() {
        // `Holder::new` has no kernel view: the wording is the content's.
        let gone = holder("999999999");
        assert_eq!(held(&gone, Medium::File), "held by pid 999999999");
        assert_eq!(held_in_detail(&gone, Medium::File), "held by pid 999999999");
    }

    #[test]
    fn a_holder_that_says_nothing_is_worded_for_its_backend() {
        let silent = Holder::new(None);
        assert_eq!(
            held(&silent, Medium::File),
            "held; the file does not say by whom"
        );
        assert_eq!(
            held(&silent, Medium::Key),
            "held; its key does not say by whom (etcdctl lock?)"
        );
        assert_eq!(free_in_detail(&silent, Medium::File), "free");
    }
}
