//! `LockedContext`: a scoped lock on `name + ".lock"`.

use std::path::Path;
use std::time::Duration;

use crate::{LockError, LockFile, LockOptions};

/// A lock on `name + ".lock"`, held until [`close`](LockedContext::close) or drop.
///
/// The equivalent of zc.lockfile's `LockedContext` (a `with` block): Rust's scope
/// does what the context manager did, and the lock is released on every way out
/// of it, panics included. The `.lock` suffix is always added, so the same name
/// used with [`LockedFile`](crate::LockedFile) takes the same lock.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use scoped_lockfile::LockedContext;
///
/// # let dir = tempfile::tempdir()?;
/// # let description = dir.path().join("description");
/// {
///     let _guard = LockedContext::with_timeout(&description, Duration::from_secs(5))?;
///     // ... do_something() while no other process can ...
/// } // released here
/// assert!(dir.path().join("description.lock").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the LockedContext is dropped"]
pub struct LockedContext {
    lock: LockFile,
}

impl LockedContext {
    /// Locks `name + ".lock"`, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// As [`LockOptions::lock`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let guard = scoped_lockfile::LockedContext::new(dir.path().join("description"))?;
    /// guard.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(name: impl AsRef<Path>) -> Result<Self, LockError> {
        LockOptions::new().locked_context(name)
    }

    /// Locks `name + ".lock"`, giving up after `timeout` with [`LockError::Timeout`].
    ///
    /// # Errors
    ///
    /// As [`LockOptions::lock`].
    ///
    /// ```
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir()?;
    /// let guard = scoped_lockfile::LockedContext::with_timeout(dir.path().join("job"), Duration::from_millis(200))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_timeout(name: impl AsRef<Path>, timeout: Duration) -> Result<Self, LockError> {
        LockOptions::new().timeout(timeout).locked_context(name)
    }

    pub(crate) fn from_lock(lock: LockFile) -> Self {
        Self { lock }
    }

    pub(crate) fn file_id(&self) -> crate::sys::FileId {
        self.lock.file_id()
    }

    /// The lock file's path: the name given, plus `.lock`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let guard = scoped_lockfile::LockedContext::new(dir.path().join("job"))?;
    /// assert_eq!(guard.path(), dir.path().join("job.lock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        self.lock.path()
    }

    /// Releases the lock, reporting an error from the unlock (drop ignores it).
    ///
    /// # Errors
    ///
    /// As [`LockFile::close`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// scoped_lockfile::LockedContext::new(dir.path().join("job"))?.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<(), LockError> {
        self.lock.close()
    }
}
