//! The one error type of the crate.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Holder;

/// Why a lock could not be taken, or a locked file could not be opened or closed.
///
/// Every variant names the path it is about, and `Display` prints it, so the
/// message alone tells a user which lock failed. After any error nothing is left
/// half-done: no lock is held and no file content was changed.
///
/// The first line of the message matches zc.lockfile's `LockError`
/// (`Couldn't lock 'path'`); ours adds who holds the lock when the lock file says so.
///
/// # Example
///
/// ```
/// use scoped_lockfile::{LockError, LockFile};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("build.lock");
/// let _held = LockFile::new(&path)?;
/// match LockFile::new(&path) {
///     Err(LockError::Contended { holder, .. }) => {
///         assert_eq!(holder.pid(), Some(std::process::id()));
///     }
///     other => panic!("expected Contended, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// A single try found the lock held by another open of the file: another
    /// process, another thread, or this same thread through another `LockFile`.
    Contended {
        /// The lock file.
        path: PathBuf,
        /// Who holds it: what the lock file says (e.g. `"4242;web-1"`), and
        /// whether readers hold it.
        holder: Holder,
    },
    /// The lock stayed held for the whole timeout.
    Timeout {
        /// The lock file.
        path: PathBuf,
        /// The timeout asked for; the message says this one.
        timeout: Duration,
        /// How long the caller waited, as measured: the timeout, and a little
        /// more for scheduling.
        waited: Duration,
        /// Who held it when the wait ended.
        holder: Holder,
    },
    /// Waiting for this lock would certainly never end, so the wait was refused.
    ///
    /// Returned in one case only: a wait without a timeout (or with one too
    /// large for the clock, which means the same), on a thread that is
    /// running a sync `#[locked]` function holding this same lock file (reached
    /// by whatever path), e.g. such a function re-entered on its own thread. Its
    /// guard cannot leave the function's frame, so nothing could release the lock
    /// while the thread waits.
    ///
    /// Not detected, because it is not certain: a lock held through a
    /// [`LockFile`](crate::LockFile), [`LockedContext`](crate::LockedContext),
    /// [`LockedFile`](crate::LockedFile) or `with_lock!` on this thread. Those
    /// guards are `Send`: one may have been moved to another thread that will
    /// drop it, so waiting for it forever on this thread just waits (as a
    /// `std::sync::Mutex` locked twice would). A timed wait times out, and an
    /// async wait never returns it. A correct program never gets this error.
    WouldDeadlock {
        /// The lock file.
        path: PathBuf,
    },
    /// The content template has a placeholder other than `{pid}` and `{hostname}`,
    /// or a brace that is neither a placeholder nor an escape (`{{`, `}}`).
    InvalidTemplate {
        /// The lock file that was not created or opened because of it.
        path: PathBuf,
        /// The whole template.
        template: String,
        /// The offending piece, e.g. `{foo}` or a lone `}`.
        placeholder: String,
    },
    /// The mode string is not one of Python's `open()` modes, or writes under
    /// a shared lock.
    InvalidMode {
        /// The data file that was not opened because of it.
        path: PathBuf,
        /// The mode as given.
        mode: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The path is a symlink, directory, FIFO, socket or device: it is refused and
    /// left alone, because locking it would follow or disturb something else:
    /// nothing is read from or written to it. (It is opened, without blocking,
    /// to learn what it is; opening a FIFO can wake a process blocked on it.)
    /// The path is the lock file's, or a [`LockedFile`](crate::LockedFile)'s
    /// data file's: the message says "refusing to use", true of both.
    UnsafePath {
        /// The refused path.
        path: PathBuf,
        /// What was found there, e.g. `"a symbolic link"`.
        found: &'static str,
    },
    /// The lock's backend could not be asked: a lock service unreachable or
    /// without a quorum, say. Never returned by the lock files of this crate.
    Unavailable {
        /// The lock's name.
        path: PathBuf,
        /// What the backend said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend cannot take this kind of lock (e.g. a shared lock on a
    /// backend that has only exclusive ones). Returned by lock files only for
    /// a fair lock ([`LockOptions::fair`](crate::LockOptions::fair)) where the
    /// platform cannot queue (anywhere but Linux, for now).
    Unsupported {
        /// The lock's name.
        path: PathBuf,
        /// What it cannot do, e.g. `"shared locks"`.
        what: &'static str,
    },
    /// The operating system refused an operation on the path.
    ///
    /// The message includes the operating system's (`'path': Permission denied
    /// (os error 13)`), so [`source`](std::error::Error::source) does not return
    /// the `io::Error` again (an error chain would print it twice); it returns
    /// what the `io::Error` itself would, as std's own wrapping errors do. The
    /// `io::Error` is the `source` field.
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl LockError {
    /// The path the error is about.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("missing-dir").join("x.lock");
    /// let err = scoped_lockfile::LockFile::new(&path).unwrap_err();
    /// assert_eq!(err.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            Self::Contended { path, .. }
            | Self::Timeout { path, .. }
            | Self::WouldDeadlock { path }
            | Self::InvalidTemplate { path, .. }
            | Self::InvalidMode { path, .. }
            | Self::UnsafePath { path, .. }
            | Self::Unavailable { path, .. }
            | Self::Unsupported { path, .. }
            | Self::Io { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |p: &Path| p.display().to_string();
        match self {
            Self::Contended { path, holder } => {
                write!(f, "Couldn't lock '{}'", shown(path))?;
                write_holder(f, holder)
            }
            Self::Timeout {
                path,
                timeout,
                holder,
                ..
            } => {
                write!(f, "Couldn't lock '{}' within {timeout:?}", shown(path))?;
                write_holder(f, holder)
            }
            Self::WouldDeadlock { path } => write!(
                f,
                "Couldn't lock '{}': a #[locked] function running on this thread holds it, \
                 waiting would deadlock",
                shown(path)
            ),
            Self::InvalidTemplate {
                path,
                template,
                placeholder,
            } => write!(
                f,
                "invalid content template {template:?} for '{}': `{placeholder}` is not \
                 {{pid}}, {{hostname}}, {{{{ or }}}}",
                shown(path)
            ),
            Self::InvalidMode {
                path,
                mode,
                expected,
            } => write!(
                f,
                "invalid mode {mode:?} for '{}': expected {expected}",
                shown(path)
            ),
            Self::Unavailable { path, source } => {
                write!(f, "Couldn't lock '{}': {source}", shown(path))
            }
            Self::Unsupported { path, what } => write!(
                f,
                "Couldn't lock '{}': its backend does not support {what}",
                shown(path)
            ),
            Self::UnsafePath { path, found } => {
                write!(f, "refusing to use '{}': it is {found}", shown(path))
            }
            Self::Io { path, source } => write!(f, "'{}': {source}", shown(path)),
        }
    }
}

/// `: held by 4242;web-1`, `: held by 4242 (test db::one)`, `: held shared`,
/// or nothing when the file is silent. Where the content names a pid the
/// kernel says does not hold the lock, the kernel's holders first, and the
/// content as an earlier holder's:
/// `: held by pid 20520 (flock); the file names 20464;vm, an earlier holder`.
/// (A content without a pid is the holder's own words, kept as they are.)
fn write_holder(f: &mut fmt::Formatter<'_>, holder: &Holder) -> fmt::Result {
    if holder.fair_waiters_first {
        return f
            .write_str(": fair waiters are queued for it, and a fair lock does not overtake them");
    }
    if holder.shared {
        return write!(f, ": held shared");
    }
    let kernel = holder
        .kernel
        .describe_holders()
        .filter(|_| holder.names_a_holder() == Some(false));
    match (&holder.content, kernel) {
        (Some(content), Some(kernel)) => {
            write!(f, ": held by {kernel}; the file names ")?;
            crate::holder::write_escaped(f, content)?;
            // The process that took the lock and left it to one that
            // inherited it, or an earlier holder altogether.
            let took_it = holder.pid().is_some_and(|pid| {
                holder
                    .kernel
                    .flock_locks()
                    .any(|lock| lock.taken_by.as_ref().is_some_and(|taker| taker.pid == pid))
            });
            f.write_str(if took_it {
                ", which took it"
            } else {
                ", an earlier holder"
            })
        }
        (Some(content), None) => {
            f.write_str(": held by ")?;
            crate::holder::write_escaped(f, content)?;
            holder.write_test(f)
        }
        (None, _) => match holder.kernel.describe_holders() {
            Some(kernel) => write!(f, ": held by {kernel}"),
            None => Ok(()),
        },
    }
}

impl std::error::Error for LockError {
    /// The message already includes the `io::Error` of [`LockError::Io`]; this
    /// is the error underneath it, if any (usually none for an OS error).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => source.source(),
            // Printed by Display too, so the chain goes on below it.
            Self::Unavailable { source, .. } => source.source(),
            _ => None,
        }
    }
}

impl From<LockError> for io::Error {
    /// Lets `?` turn a `LockError` into an `io::Error` in functions returning
    /// `io::Result`; the kind says what happened (`WouldBlock` for contention,
    /// `TimedOut`, `Deadlock`, `InvalidInput`), the message is kept.
    ///
    /// ```
    /// fn run(path: &std::path::Path) -> std::io::Result<()> {
    ///     let _lock = scoped_lockfile::LockFile::new(path)?;
    ///     Ok(())
    /// }
    /// # let dir = tempfile::tempdir()?;
    /// # run(&dir.path().join("x.lock"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn from(err: LockError) -> Self {
        let kind = match &err {
            LockError::Io { source, .. } => source.kind(),
            LockError::Contended { .. } => io::ErrorKind::WouldBlock,
            LockError::Timeout { .. } => io::ErrorKind::TimedOut,
            LockError::WouldDeadlock { .. } => io::ErrorKind::Deadlock,
            LockError::InvalidTemplate { .. }
            | LockError::InvalidMode { .. }
            | LockError::UnsafePath { .. } => io::ErrorKind::InvalidInput,
            LockError::Unavailable { .. } => io::ErrorKind::ConnectionRefused,
            LockError::Unsupported { .. } => io::ErrorKind::Unsupported,
        };
        io::Error::new(kind, err)
    }
}
