//! The one error type of the crate.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
///         assert_eq!(holder.as_deref(), Some(std::process::id().to_string().as_str()));
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
        /// What the holder wrote into the lock file (e.g. `"4242;web-1"`), trimmed;
        /// `None` when the file was empty or unreadable.
        holder: Option<String>,
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
        /// What the holder wrote into the lock file when the wait ended, trimmed.
        holder: Option<String>,
    },
    /// Waiting for this lock would certainly never end, so the wait was refused.
    ///
    /// Returned in one case only: a wait without a timeout, on a thread that is
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
    /// The mode string is not one of Python's `open()` modes.
    InvalidMode {
        /// The data file that was not opened because of it.
        path: PathBuf,
        /// The mode as given.
        mode: String,
    },
    /// The path is a symlink, directory, FIFO, socket or device: it is refused and
    /// left untouched, because locking it would follow or disturb something else.
    UnsafePath {
        /// The refused path.
        path: PathBuf,
        /// What was found there, e.g. `"a symbolic link"`.
        found: &'static str,
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
                write_holder(f, holder.as_deref())
            }
            Self::Timeout {
                path,
                timeout,
                holder,
                ..
            } => {
                write!(f, "Couldn't lock '{}' within {timeout:?}", shown(path))?;
                write_holder(f, holder.as_deref())
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
            Self::InvalidMode { path, mode } => write!(
                f,
                "invalid mode {mode:?} for '{}': expected one of r, w, a, x, \
                 optionally with + and b or t",
                shown(path)
            ),
            Self::UnsafePath { path, found } => {
                write!(f, "refusing to lock '{}': it is {found}", shown(path))
            }
            Self::Io { path, source } => write!(f, "'{}': {source}", shown(path)),
        }
    }
}

fn write_holder(f: &mut fmt::Formatter<'_>, holder: Option<&str>) -> fmt::Result {
    match holder {
        Some(holder) => write!(f, ": held by {holder}"),
        None => Ok(()),
    }
}

impl std::error::Error for LockError {
    /// The message already includes the `io::Error` of [`LockError::Io`]; this
    /// is the error underneath it, if any (usually none for an OS error).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => source.source(),
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
        };
        io::Error::new(kind, err)
    }
}
