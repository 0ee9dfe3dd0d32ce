//! How the command line names a holder: `pid 42 on web-1`, from the library's
//! reading of a lock file's content (zc.lockfile's `<pid>`, or `<pid>;<hostname>`).

use scoped_lockfile::Holder;

/// `pid 42 on web-1` or `pid 42` when the content has one of those shapes,
/// else `None` (the caller shows the content as it is, escaped); then
/// ` (test db::one)` when a `#[locked]` test wrote its name (escaped too).
pub(crate) fn describe(holder: &Holder) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn described(content: &str) -> Option<String> {
        describe(&Holder::new(Some(content.to_owned())))
    }

    #[test]
    fn names_the_default_shapes_only() {
        assert_eq!(described("42;web-1").as_deref(), Some("pid 42 on web-1"));
        assert_eq!(described("42").as_deref(), Some("pid 42"));
        assert_eq!(described("42;a;b").as_deref(), Some("pid 42 on a;b"));
        for other in ["deploy by ann", "-1;x", "+1", "", ";x", "99999999999"] {
            assert_eq!(described(other), None, "{other}");
        }
    }

    #[test]
    fn names_the_test_a_locked_test_wrote() {
        assert_eq!(
            described("42\ntest db::one (pid 42)").as_deref(),
            Some("pid 42 (test db::one)")
        );
        // Another process's test line (an old tail) is not this holder's.
        assert_eq!(
            described("42\ntest db::one (pid 7)").as_deref(),
            Some("pid 42")
        );
    }
}
