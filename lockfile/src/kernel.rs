//! `KernelView`: who holds a lock as the operating system tells it, rather
//! than as the lock file's content says (semantic 18).
//!
//! The content names whoever last wrote it; the kernel knows which open file
//! holds the lock and which processes have a descriptor of that open file.
//! Only Linux lets a program read that cheaply (`/proc/locks` and the `lock:`
//! lines of `/proc/PID/fdinfo/*`, as util-linux `lslocks` does); everywhere
//! else the view is [`KernelView::Unknown`] and the content is all there is.

/// Which kind of advisory lock the kernel lists on the file.
///
/// Ours, zc.lockfile's and `flock(1)`'s are [`Flock`](Self::Flock). On Linux,
/// `fcntl` locks ([`Posix`](Self::Posix), [`Ofd`](Self::Ofd)) and `flock`
/// locks on a local file do not exclude each other: they are listed, named as
/// such, but never make the lock held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockKind {
    /// `flock(2)`: the lock this crate takes.
    Flock,
    /// `fcntl(F_SETLK)` (or `lockf(3)`): a process-owned byte-range lock.
    Posix,
    /// `fcntl(F_OFD_SETLK)`: a byte-range lock owned by an open file.
    Ofd,
}

impl LockKind {
    /// `"flock"`, `"POSIX"` or `"OFD"`, as the CLI and messages name them.
    ///
    /// ```
    /// assert_eq!(scoped_lockfile::LockKind::Posix.name(), "POSIX");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Flock => "flock",
            Self::Posix => "POSIX",
            Self::Ofd => "OFD",
        }
    }
}

/// A process as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Process {
    /// Its id in this process's pid namespace.
    pub pid: u32,
    /// Its command name (Linux `/proc/PID/comm`, at most 15 bytes, e.g.
    /// `"flock"`); `None` when the process is gone or its name unreadable,
    /// and for a lock's taker that is not one of its holders (see
    /// [`KernelLock::taken_by`]).
    pub command: Option<String>,
}

/// One lock the kernel lists on the file, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelLock {
    /// What kind of lock: only [`LockKind::Flock`] locks are the lock file's.
    pub kind: LockKind,
    /// A reader's (shared) lock rather than a writer's.
    pub shared: bool,
    /// The process that took the lock, as the kernel recorded it; `None` when
    /// the kernel does not say (an OFD lock, or a taker that is gone and was
    /// never visible from this pid namespace). The kernel keeps the pid after
    /// the taker is gone, and the pid may since name an unrelated process,
    /// which is why a holder is never inferred from it (see
    /// [`holders`](Self::holders)) and why its `command` is named only while
    /// the taker is itself one of the holders (or its descriptors cannot be
    /// read, another user's, so it may be): otherwise `command` is `None`, as
    /// for a taker that is gone, even if a process with that pid runs (the
    /// pid reused, or the taker alive but no longer holding it, having passed
    /// its descriptor on).
    pub taken_by: Option<Process>,
    /// Every process with a descriptor of the open file that holds the lock:
    /// the taker if it still has one, and every process that inherited one
    /// (a forked child, a command that `flock(1)` or `lockfile run` started,
    /// a daemon started by a locked script). Empty when not listed (see
    /// [`KernelView::Held`]'s `listed`).
    pub holders: Vec<Process>,
}

impl KernelLock {
    /// Whether `holder`, one of [`holders`](Self::holders), got the lock's
    /// descriptor from another process rather than taking the lock itself.
    /// Unknown (`true`) when the taker is not known.
    ///
    /// ```
    /// # use scoped_lockfile::{KernelView, probe};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("job.lock");
    /// let _lock = scoped_lockfile::LockFile::new(&path)?;
    /// if let KernelView::Held { locks, .. } = *probe(&path)?.holder().unwrap().kernel.clone() {
    ///     let me = &locks[0].holders[0];
    ///     assert_eq!(me.pid, std::process::id());
    ///     assert!(!locks[0].inherited(me));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inherited(&self, holder: &Process) -> bool {
        self.taken_by
            .as_ref()
            .is_none_or(|taker| taker.pid != holder.pid)
    }
}

/// Who holds a lock according to the kernel, where it can tell.
///
/// What each platform can tell:
///
/// - **Linux**: everything below, read from `/proc` without taking the lock.
///   [`Free`](Self::Free) is said only where nothing can hide from this
///   process's view: this process and its `/proc` in the initial pid
///   namespace, and a local filesystem (ext2/3/4, XFS, Btrfs, tmpfs, overlayfs,
///   F2FS, bcachefs, ZFS) whose locks live in this kernel; on Btrfs, overlayfs
///   and bcachefs a try tells instead while some file with the lock file's
///   inode number on another device is `flock`ed (it might be the lock file
///   under its filesystem's own device number). Elsewhere (a
///   container, NFS, SMB, FUSE) a lock nobody here holds is found out by a
///   try, and one held by a process this namespace cannot see (another
///   container's, another host's) is [`Unseen`](Self::Unseen).
/// - **macOS, the BSDs**: [`Unknown`](Self::Unknown). No cheap interface names
///   the processes holding a `flock` lock (FreeBSD 13's `kern.lockf` sysctl,
///   behind `procstat advlock`, lists locks and owners, and is not read yet).
/// - **Windows**: [`Unknown`](Self::Unknown). No API names the holder of a
///   byte-range lock; the Restart Manager lists processes that merely have the
///   file open, which is a different question.
///
/// ```
/// use scoped_lockfile::{KernelView, LockFile, probe};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("job.lock");
/// let _lock = LockFile::new(&path)?;
/// let holder = probe(&path)?.holder().cloned().unwrap();
/// match &*holder.kernel {
///     KernelView::Held { .. } => {
///         assert_eq!(holder.kernel.holds(std::process::id()), Some(true));
///     }
///     // macOS, the BSDs, Windows, or a Linux without /proc.
///     KernelView::Unknown => assert_eq!(holder.kernel.holds(1), None),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KernelView {
    /// The kernel's view is not available: not on this platform, not readable
    /// here (no `/proc`), or not asked for.
    #[default]
    Unknown,
    /// No process holds the file's lock: the kernel lists no `flock` lock on
    /// it. `others` are `fcntl` locks on the file, which do not exclude ours.
    Free {
        /// POSIX and OFD locks on the file, if any.
        others: Vec<KernelLock>,
    },
    /// The kernel lists the lock: one entry for a writer, one per reader, and
    /// then any POSIX or OFD locks on the file.
    #[non_exhaustive]
    Held {
        /// The `flock` locks first, then the others.
        locks: Vec<KernelLock>,
        /// Whether the holders were looked for: `false` in a
        /// [`LockError`](crate::LockError)'s view, which reads only
        /// `/proc/locks` and the taker's own descriptors (so `holders` then has
        /// at most the taker), and when some processes' descriptors could not
        /// be read (another user's, without the privilege).
        listed: bool,
    },
    /// A non-blocking try proved the lock held, but by no process visible
    /// from here: one in another pid namespace (a container sharing the
    /// volume) or, on a network filesystem, on another host.
    Unseen,
}

impl KernelView {
    /// The `flock` locks of a [`Held`](Self::Held) view (one per reader).
    ///
    /// ```
    /// let view = scoped_lockfile::KernelView::Unknown;
    /// assert_eq!(view.flock_locks().count(), 0);
    /// ```
    pub fn flock_locks(&self) -> impl Iterator<Item = &KernelLock> {
        let locks: &[KernelLock] = match self {
            Self::Held { locks, .. } => locks,
            _ => &[],
        };
        locks.iter().filter(|lock| lock.kind == LockKind::Flock)
    }

    /// Every process holding the lock file's lock, with the lock it holds
    /// through (whose [`KernelLock::inherited`] tells how it got it).
    ///
    /// ```
    /// let view = scoped_lockfile::KernelView::Unseen;
    /// assert_eq!(view.holders().count(), 0);
    /// ```
    pub fn holders(&self) -> impl Iterator<Item = (&KernelLock, &Process)> {
        self.flock_locks()
            .flat_map(|lock| lock.holders.iter().map(move |process| (lock, process)))
    }

    /// Whether process `pid` holds the lock file's lock: `None` when the view
    /// cannot tell (unknown, unseen holders, or holders not all listed and
    /// `pid` not among those that are).
    ///
    /// ```
    /// let view = scoped_lockfile::KernelView::Free { others: Vec::new() };
    /// assert_eq!(view.holds(4242), Some(false));
    /// ```
    pub fn holds(&self, pid: u32) -> Option<bool> {
        match self {
            Self::Unknown | Self::Unseen => None,
            Self::Free { .. } => Some(false),
            Self::Held { listed, .. } => {
                if self.holders().any(|(_, process)| process.pid == pid) {
                    Some(true)
                } else {
                    listed.then_some(false)
                }
            }
        }
    }
}

impl std::fmt::Display for Process {
    /// `pid 20520 (flock)`, or `pid 3100 (gone)` when its name is unknown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} (", self.pid)?;
        match &self.command {
            Some(command) => crate::holder::write_escaped(f, command)?,
            None => f.write_str("gone")?,
        }
        f.write_str(")")
    }
}

impl KernelView {
    /// The holders, worded for a message (what follows "held by"): `pid
    /// 20520 (flock)`; `pid 3121 (nightly-daemon), which inherited it from
    /// pid 3100 (gone)`; when the holders were not all looked for, `a process
    /// that inherited it from pid 3100 (gone)` or `the lock taken by pid 3100
    /// (nightly.sh)`; `a process not visible from here (...)` when
    /// [`Unseen`](Self::Unseen); `None` when the view names no holder.
    /// Command names are escaped as [`Holder`](crate::Holder)'s `Display`
    /// escapes content.
    ///
    /// ```
    /// let view = scoped_lockfile::KernelView::Unknown;
    /// assert_eq!(view.describe_holders(), None);
    /// ```
    pub fn describe_holders(&self) -> Option<String> {
        describe_holders(self)
    }
}

fn describe_holders(view: &KernelView) -> Option<String> {
    if *view == KernelView::Unseen {
        return Some("a process not visible from here (another pid namespace or host)".into());
    }
    let locks: Vec<&KernelLock> = view.flock_locks().collect();
    let phrases: Vec<String> = if locks.len() > 1 {
        // Readers: one each, by the process that took its lock if it still
        // holds it (the full list is in the view).
        locks
            .iter()
            .filter_map(|lock| {
                let taker = lock.taken_by.as_ref();
                let holder = taker
                    .filter(|t| lock.holders.iter().any(|h| h.pid == t.pid))
                    .or_else(|| lock.holders.first())
                    .or(taker)?;
                Some(holder.to_string())
            })
            .collect()
    } else {
        locks
            .iter()
            .filter_map(|lock| describe_lock(lock))
            .collect()
    };
    (!phrases.is_empty()).then(|| phrases.join(", "))
}

/// `pid 20520 (flock)`; `pid 20520 (flock) and pid 20521 (sleep), which
/// inherited it`; `pid 3121 (nightly-daemon), which inherited it from pid
/// 3100 (gone)`; `a process that inherited it from pid 3100 (gone)`.
fn describe_lock(lock: &KernelLock) -> Option<String> {
    let list = |processes: &[&Process]| {
        let names: Vec<String> = processes.iter().map(ToString::to_string).collect();
        names.join(", ")
    };
    let taker = lock.taken_by.as_ref();
    let holding_taker = taker.filter(|t| lock.holders.iter().any(|h| h.pid == t.pid));
    let inheritors: Vec<&Process> = lock
        .holders
        .iter()
        .filter(|holder| lock.inherited(holder))
        .collect();
    Some(match (holding_taker, taker, inheritors.is_empty()) {
        (Some(taker), _, true) => taker.to_string(),
        (Some(taker), _, false) => {
            format!("{taker} and {}, which inherited it", list(&inheritors))
        }
        (None, Some(taker), false) => {
            format!("{}, which inherited it from {taker}", list(&inheritors))
        }
        (None, None, false) => format!("{}, which inherited it", list(&inheritors)),
        // Holders not listed: a taker still running may hold it (its
        // descriptors may be another user's, unreadable); a taker gone left
        // it to a process that inherited it.
        (None, Some(taker), true) if taker.command.is_some() => {
            format!("the lock taken by {taker}")
        }
        (None, Some(taker), true) => format!("a process that inherited it from {taker}"),
        (None, None, true) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, command: Option<&str>) -> Process {
        Process {
            pid,
            command: command.map(str::to_owned),
        }
    }

    fn held(taker: Option<Process>, holders: Vec<Process>) -> KernelView {
        KernelView::Held {
            locks: vec![KernelLock {
                kind: LockKind::Flock,
                shared: false,
                taken_by: taker,
                holders,
            }],
            listed: true,
        }
    }

    #[test]
    fn words_the_taker_and_those_that_inherited_it() {
        let flock = process(20520, Some("flock"));
        let sleep = process(20521, Some("sleep"));
        let one = held(Some(flock.clone()), vec![flock.clone()]);
        assert_eq!(one.describe_holders().as_deref(), Some("pid 20520 (flock)"));
        let two = held(Some(flock.clone()), vec![flock, sleep]);
        assert_eq!(
            two.describe_holders().as_deref(),
            Some("pid 20520 (flock) and pid 20521 (sleep), which inherited it")
        );
        let daemon = process(3121, Some("nightly-daemon"));
        let left = held(Some(process(3100, None)), vec![daemon.clone()]);
        assert_eq!(
            left.describe_holders().as_deref(),
            Some("pid 3121 (nightly-daemon), which inherited it from pid 3100 (gone)")
        );
        assert_eq!(left.holds(3121), Some(true));
        assert_eq!(left.holds(3100), Some(false));
        let hidden_taker = held(None, vec![daemon]);
        assert_eq!(
            hidden_taker.describe_holders().as_deref(),
            Some("pid 3121 (nightly-daemon), which inherited it")
        );
    }

    #[test]
    fn holders_not_looked_for_are_not_guessed() {
        let mut gone = held(Some(process(3100, None)), Vec::new());
        if let KernelView::Held { listed, .. } = &mut gone {
            *listed = false;
        }
        assert_eq!(
            gone.describe_holders().as_deref(),
            Some("a process that inherited it from pid 3100 (gone)")
        );
        assert_eq!(gone.holds(3100), None);
        let running = held(Some(process(7, Some("job\u{1b}[2J"))), Vec::new());
        assert_eq!(
            running.describe_holders().as_deref(),
            Some("the lock taken by pid 7 (job\\u{1b}[2J)")
        );
        assert_eq!(KernelView::Unknown.describe_holders(), None);
        assert_eq!(
            KernelView::Free { others: Vec::new() }.holds(7),
            Some(false)
        );
    }
}
