//! Who holds a lock, when the lock file says so: zc.lockfile's ` <pid>` and
//! `lockfile run`'s ` <pid>;<hostname>`. Anything else names nobody.
//!
//! The library will offer this (a `Holder` with pid, hostname and liveness);
//! until then this is the CLI's own reading, in this one place.

use std::fmt;

/// What a lock file's trimmed content says about its holder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Holder<'a> {
    pub(crate) pid: u32,
    pub(crate) hostname: Option<&'a str>,
}

/// The holder `content` (trimmed) names, if it has one of the two shapes.
pub(crate) fn parse(content: &str) -> Option<Holder<'_>> {
    let (pid, hostname) = match content.split_once(';') {
        Some((pid, hostname)) => (pid, Some(hostname)),
        None => (content, None),
    };
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid = pid.parse().ok()?;
    Some(Holder { pid, hostname })
}

impl Holder<'_> {
    /// Whether the holder's process runs, when it is on this host; `None` if
    /// that cannot be known (no hostname, another host).
    pub(crate) fn alive(&self, this_host: &str) -> Option<bool> {
        if self.hostname != Some(this_host) {
            return None;
        }
        crate::sys::process_exists(self.pid)
    }
}

impl fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hostname {
            Some(host) => write!(f, "pid {} on {host}", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_shapes_only() {
        assert_eq!(
            parse("42;web-1"),
            Some(Holder {
                pid: 42,
                hostname: Some("web-1")
            })
        );
        assert_eq!(
            parse("42"),
            Some(Holder {
                pid: 42,
                hostname: None
            })
        );
        assert_eq!(
            parse("42;a;b"),
            Some(Holder {
                pid: 42,
                hostname: Some("a;b")
            })
        );
        for other in ["deploy by ann", "-1;x", "+1", "", ";x", "99999999999"] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn checks_liveness_only_on_this_host() {
        let me = Holder {
            pid: std::process::id(),
            hostname: Some("here"),
        };
        assert_eq!(me.alive("here"), Some(true));
        assert_eq!(me.alive("elsewhere"), None);
        let nameless = Holder {
            pid: std::process::id(),
            hostname: None,
        };
        assert_eq!(nameless.alive("here"), None);
    }
}
