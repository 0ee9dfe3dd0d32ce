//! `Holder`: who holds a lock, as far as anyone can tell from outside.

use std::fmt::{self, Write};
use std::fs::File;

use crate::sys::{self, Access, Depth, FileId, Seen};
use crate::{KernelView, template};

/// Who holds a lock: what its lock file says, whether readers hold it, and
/// which processes hold it as the kernel tells, where it can ([`kernel`](Self::kernel)).
///
/// An exclusive holder writes its content (by default `"{pid}"`, or
/// `"{pid};{hostname}"` with that template); [`pid`](Self::pid),
/// [`hostname`](Self::hostname), [`is_this_host`](Self::is_this_host) and
/// [`is_alive`](Self::is_alive) read it when it has one of those shapes.
/// Shared holders (readers) write nothing, since they would overwrite each
/// other: then [`shared`](Self::shared) is true and `content`, if any, is what
/// the last exclusive holder wrote, not who the readers are.
///
/// A snapshot, taken when the error was made or the probe looked.
///
/// ```
/// use scoped_lockfile::{LockError, LockFile};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("job.lock");
/// let _held = LockFile::with_content_template(&path, "{pid};{hostname}")?;
/// let Err(LockError::Contended { holder, .. }) = LockFile::new(&path) else {
///     panic!("held");
/// };
/// assert_eq!(holder.pid(), Some(std::process::id()));
/// assert_eq!(holder.is_this_host(), Some(true));
/// assert_eq!(holder.is_alive(), Some(true));
/// assert!(!holder.shared);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// What the lock file says: its first line, trimmed (e.g. `"4242;web-1"`);
    /// `None` when it is empty or unreadable. As written by whoever last wrote
    /// it: a holder that writes nothing (a reader, `flock(1)`, a `lockfile
    /// run` that could only open the file read-only) or one caught between
    /// locking and writing leaves an earlier holder's content there. Shown by
    /// `Display` with control characters escaped; this field is as read.
    pub content: Option<String>,
    /// Whether shared holders (readers) hold the lock rather than one
    /// exclusive holder.
    pub shared: bool,
    /// Which processes hold the lock, as the kernel tells it: the real
    /// holders, whatever the content says. [`KernelView::Unknown`] where the
    /// platform has no such view (see [`KernelView`]) and for holders made
    /// with [`Holder::new`]. [`probe`](crate::probe) lists every holder; a
    /// [`LockError`](crate::LockError) only the lock's taker, if it still
    /// holds it (bounded cost: no scan of every process on every error).
    pub kernel: Box<KernelView>,
    /// Whether the content's pid holds the lock, where asked of that
    /// process alone because `kernel` does not list every holder.
    pub(crate) named_holds: Option<bool>,
    /// The test that holds it, when a `#[locked]` fn or `with_lock!` in a
    /// test harness wrote its name on the lock file's second line (`test
    /// NAME (pid PID)`, checked against the pid of the first). `None`
    /// outside tests, and for shared holders, who write nothing.
    pub test: Option<String>,
    /// Whether a fair one try was refused because fair waiters are queued
    /// for the lock, which it does not overtake (fair mode, F2), rather than
    /// because the lock is held: the lock may be free, and `content` is then
    /// an earlier holder's.
    pub fair_waiters_first: bool,
}

impl Holder {
    /// An exclusive holder whose lock says `content`; for lock backends other
    /// than files, whose holders name themselves the same way.
    ///
    /// ```
    /// let holder = scoped_lockfile::Holder::new(Some("4242;web-1".into()));
    /// assert_eq!(holder.pid(), Some(4242));
    /// assert_eq!(holder.hostname(), Some("web-1"));
    /// ```
    ///
    /// Content of more than one line is the first line, trimmed, and a
    /// second that may name a test (see [`test`](Self::test)):
    ///
    /// ```
    /// let holder = scoped_lockfile::Holder::new(Some("4242\ntest db::one (pid 4242)".into()));
    /// assert_eq!(holder.content.as_deref(), Some("4242"));
    /// assert_eq!(holder.test.as_deref(), Some("db::one"));
    /// assert_eq!(holder.to_string(), "4242 (test db::one)");
    /// ```
    pub fn new(content: Option<String>) -> Self {
        let (content, test) = match content {
            Some(lines_read) if lines_read.contains('\n') => {
                let mut lines = lines_read.lines();
                let first = lines.next().unwrap_or_default().trim();
                let pid = Self::new(Some(first.to_owned())).pid();
                let test = lines
                    .next()
                    .and_then(|line| crate::harness::parse_test_line(line, pid));
                ((!first.is_empty()).then(|| first.to_owned()), test)
            }
            content => (content, None),
        };
        Self {
            content,
            shared: false,
            kernel: Box::new(KernelView::Unknown),
            named_holds: None,
            test,
            fair_waiters_first: false,
        }
    }

    /// The process id, when the content is `<pid>` or `<pid>;<hostname>`.
    ///
    /// ```
    /// use scoped_lockfile::Holder;
    /// assert_eq!(Holder::new(Some("4242".into())).pid(), Some(4242));
    /// assert_eq!(Holder::new(Some("deploy by ann".into())).pid(), None);
    /// assert_eq!(Holder::new(Some("+42".into())).pid(), None);
    /// ```
    pub fn pid(&self) -> Option<u32> {
        let pid = self.split()?.0;
        // Digits only: `parse` would also take "+42".
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // No process has pid 0 (and kill(0, ..) means the process group).
        pid.parse().ok().filter(|&pid| pid != 0)
    }

    /// The host name, when the content is `<pid>;<hostname>`.
    ///
    /// ```
    /// use scoped_lockfile::Holder;
    /// assert_eq!(Holder::new(Some("7;db-2".into())).hostname(), Some("db-2"));
    /// assert_eq!(Holder::new(Some("7".into())).hostname(), None);
    /// ```
    pub fn hostname(&self) -> Option<&str> {
        self.pid()?;
        self.split()?.1.filter(|hostname| !hostname.is_empty())
    }

    /// Whether the holder is on this host; `None` when the content names no host.
    ///
    /// ```
    /// use scoped_lockfile::Holder;
    /// assert_eq!(Holder::new(Some("7;no-such-host.invalid".into())).is_this_host(), Some(false));
    /// ```
    pub fn is_this_host(&self) -> Option<bool> {
        self.hostname()
            .map(|hostname| hostname == template::hostname())
    }

    /// Whether the process the content names is running and, where the
    /// kernel tells who holds the lock, is one of its holders; `None` when
    /// that cannot be told.
    ///
    /// - The kernel lists the content's pid among the holders: `Some(true)`,
    ///   even for a bare `{pid}` content.
    /// - The kernel lists every holder (or proved the holder invisible from
    ///   here, [`KernelView::Unseen`]) and the content's pid is not one of
    ///   them: `Some(false)`, even if a process with that pid runs: the pid
    ///   was reused by an unrelated process, is another pid namespace's (every
    ///   container's first process is pid 1), or its process let go while a
    ///   process that inherited the lock (a daemon it started, `flock(1)`'s
    ///   command) holds it on. [`Holder::names_a_holder`] tells this apart
    ///   from a process that is gone.
    /// - Otherwise (no kernel view, or the lock is free): whether a process
    ///   with that pid runs, when the content names this host (a pid means
    ///   nothing on another host, and a bare pid may be another container's).
    ///
    /// `Some(false)` is never a reason to delete the lock file.
    ///
    /// ```
    /// use scoped_lockfile::Holder;
    /// let here = gethostname::gethostname();
    /// let me = Holder::new(Some(format!("{};{}", std::process::id(), here.to_string_lossy())));
    /// assert_eq!(me.is_alive(), Some(true));
    /// assert_eq!(Holder::new(Some(std::process::id().to_string())).is_alive(), None);
    /// ```
    pub fn is_alive(&self) -> Option<bool> {
        let pid = self.pid()?;
        if self.is_this_host() == Some(false) {
            return None;
        }
        if let Some(holds) = self.names_a_holder()
            && (holds || matches!(*self.kernel, KernelView::Held { .. } | KernelView::Unseen))
        {
            return Some(holds);
        }
        if self.is_this_host()? {
            sys::process_alive(pid)
        } else {
            None
        }
    }

    /// Whether a process with the content's pid runs here, whether or not it
    /// holds the lock (see [`is_alive`](Self::is_alive) for that): when the
    /// content names this host, or names no host and the kernel's view is
    /// known (the file is on a filesystem of this kernel, so its writer most
    /// likely ran here, perhaps in another pid namespace). `None` otherwise.
    /// With [`names_a_holder`](Self::names_a_holder) `Some(false)`, a running
    /// pid is a reused one, or another pid namespace's.
    ///
    /// ```
    /// use scoped_lockfile::Holder;
    /// let here = gethostname::gethostname();
    /// let me = Holder::new(Some(format!("{};{}", std::process::id(), here.to_string_lossy())));
    /// assert_eq!(me.pid_is_running(), Some(true));
    /// ```
    pub fn pid_is_running(&self) -> Option<bool> {
        let pid = self.pid()?;
        match self.is_this_host() {
            Some(true) => sys::process_alive(pid),
            None if *self.kernel != KernelView::Unknown => sys::process_alive(pid),
            _ => None,
        }
    }

    /// Whether the pid the content names is one of the lock's holders as the
    /// kernel lists them: `None` without a pid in the content or a kernel
    /// view that can tell (see [`KernelView::holds`]); `Some(false)` when the
    /// holders are [`Unseen`](KernelView::Unseen) from here.
    ///
    /// ```
    /// use scoped_lockfile::{KernelView, LockFile, probe};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("job.lock");
    /// let _lock = LockFile::new(&path)?;
    /// let holder = probe(&path)?.holder().cloned().unwrap();
    /// if *holder.kernel != KernelView::Unknown {
    ///     assert_eq!(holder.names_a_holder(), Some(true));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn names_a_holder(&self) -> Option<bool> {
        let pid = self.pid()?;
        match *self.kernel {
            KernelView::Unseen => Some(false),
            _ => self.kernel.holds(pid).or(self.named_holds),
        }
    }

    /// `(pid, hostname)` as written: `pid` alone, or `pid;hostname`.
    fn split(&self) -> Option<(&str, Option<&str>)> {
        let content = self.content.as_deref()?;
        Some(match content.split_once(';') {
            Some((pid, hostname)) => (pid, Some(hostname)),
            None => (content, None),
        })
    }
}

impl fmt::Display for Holder {
    /// `4242;web-1`, `shared holders`, or `an unknown holder`; control
    /// characters in the content (a file anyone may have written) escaped, so
    /// printing it cannot drive the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.content, self.shared) {
            (_, true) => f.write_str("shared holders"),
            (Some(content), false) => write_escaped(f, content),
            (None, false) => f.write_str("an unknown holder"),
        }?;
        self.write_test(f)
    }
}

impl Holder {
    /// ` (test NAME)` after the holder, when an exclusive holder named its test.
    pub(crate) fn write_test(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.test, self.shared) {
            (Some(test), false) => {
                f.write_str(" (test ")?;
                write_escaped(f, test)?;
                f.write_str(")")
            }
            _ => Ok(()),
        }
    }
}

/// `content` with control characters as Rust escapes (`\u{1b}`).
pub(crate) fn write_escaped(f: &mut fmt::Formatter<'_>, content: &str) -> fmt::Result {
    for c in content.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Who holds the lock that `file` (our own descriptor of the file `id`,
/// which does not hold it) could not take with `wanted` access, for a
/// `LockError`: the kernel's view at [`Depth::Taker`]. A reader is refused
/// only by a writer; a writer by either, which the kernel's view tells apart,
/// or else a momentary shared try on `file` (let go at once).
pub(crate) fn look(file: &File, id: FileId, wanted: Access) -> Holder {
    let content = read_content(file);
    let kernel = match sys::kernel_view(file, id, Depth::Taker) {
        Seen::Answer(view) => view,
        // Our try just failed: held, by nobody the table shows.
        Seen::Try => sys::unseen_view(id, Depth::Taker),
        Seen::NoView => KernelView::Unknown,
    };
    // The holders are not all listed here (no scan per error), so whether
    // the content's pid is one is asked of that one process.
    let named = Holder::new(content.clone()).pid();
    let named_holds = match (&kernel, named) {
        (KernelView::Held { .. }, Some(pid)) => match kernel.holds(pid) {
            Some(holds) => Some(holds),
            None => sys::process_holds(pid, id),
        },
        _ => None,
    };
    let shared = match kernel_shared(&kernel) {
        Some(shared) => shared,
        None => wanted == Access::Exclusive && held_shared(file),
    };
    Holder {
        shared,
        kernel: Box::new(kernel),
        named_holds,
        ..Holder::new(content)
    }
}

/// Whether readers hold the lock, if the kernel's view lists its holders.
pub(crate) fn kernel_shared(kernel: &KernelView) -> Option<bool> {
    let mut locks = kernel.flock_locks().peekable();
    locks.peek()?;
    Some(locks.all(|lock| lock.shared))
}

/// Whether readers, and no writer, hold the lock `file` does not hold.
pub(crate) fn held_shared(file: &File) -> bool {
    if !matches!(sys::try_lock(file, Access::Shared), Ok(true)) {
        return false;
    }
    let _ = sys::unlock(file);
    // Free for a moment, perhaps: then nobody holds it shared.
    match sys::try_lock(file, Access::Exclusive) {
        Ok(true) => {
            let _ = sys::unlock(file);
            false
        }
        _ => true,
    }
}

/// What the holder wrote: its first line, trimmed, and a second line if
/// there is one (which may name a test, see `Holder::new`); `None` if the
/// first is empty or the file unreadable.
///
/// Read through our own descriptor at an offset, which needs no lock and moves
/// no file position. Only the first line counts: a holder writes its line at
/// offset 0 and only then cuts what an earlier, longer one left after it, so
/// a read in between sees the new line followed by an old tail.
pub(crate) fn read_content(file: &File) -> Option<String> {
    const MAX_HOLDER_LEN: usize = 1024;
    let mut buf = vec![0; MAX_HOLDER_LEN];
    let len = sys::read_at(file, &mut buf, sys::HOLDER_OFFSET).ok()?;
    let read = &buf[..len];
    let mut lines = read.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or(read));
    let first = first.trim();
    if first.is_empty() {
        return None;
    }
    match lines.next().filter(|second| !second.is_empty()) {
        Some(second) => Some(format!("{first}\n{}", String::from_utf8_lossy(second))),
        None => Some(first.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(content: &str) -> Holder {
        Holder::new(Some(content.to_owned()))
    }

    #[test]
    fn only_digits_name_a_pid_and_zero_names_none() {
        assert_eq!(holder("42;web").pid(), Some(42));
        for odd in [
            "+42",
            "-1",
            "0",
            "0;web",
            "",
            ";",
            "42x",
            "99999999999",
            " 42",
        ] {
            assert_eq!(holder(odd).pid(), None, "{odd:?}");
            assert_eq!(holder(odd).hostname(), None, "{odd:?}");
        }
        assert_eq!(holder("42;").hostname(), None);
    }

    #[test]
    fn control_characters_are_escaped_when_shown() {
        let hostile = holder("1;host\u{1b}]0;pwned\u{7}\u{1b}[2J");
        assert_eq!(hostile.to_string(), "1;host\\u{1b}]0;pwned\\u{7}\\u{1b}[2J");
        assert_eq!(hostile.hostname(), Some("host\u{1b}]0;pwned\u{7}\u{1b}[2J"));
    }

    #[test]
    fn only_the_first_line_is_read() {
        // A new holder's line written over an older, longer one, before the cut.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, " 8357;vm\nLONG-LONG-LONG\n").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(
            Holder::new(read_content(&file)).content.as_deref(),
            Some("8357;vm")
        );
        std::fs::write(&path, "\n\n").unwrap();
        assert_eq!(read_content(&file), None);
    }
}
