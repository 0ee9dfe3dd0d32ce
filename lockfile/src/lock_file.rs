//! `LockFile`: a held lock on exactly one path.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::acquire::{Wait, acquire};
use crate::open::{DEFAULT_MODE, FileId, Identified};
use crate::template::Template;
use crate::{LockError, LockOptions, held};

/// An exclusive lock on a file, held until [`close`](LockFile::close) or drop.
///
/// The equivalent of zc.lockfile's `LockFile`: the lock is the operating system's
/// whole-file advisory lock (`flock(2)`), so it excludes every other process, and
/// every other open of the file in this process, that locks the same file this
/// way, including Python's zc.lockfile and util-linux `flock(1)`. The kernel
/// releases it when the holder exits or crashes, so there are no stale locks.
///
/// While held, the file contains `" " + content + "\n"`, where the content is
/// rendered from a template (`{pid}` unless you choose another), byte for byte
/// what zc.lockfile writes. The file is left behind on release, never deleted:
/// deleting a lock file lets two processes lock two different files of one name.
///
/// # Example
///
/// ```
/// use scoped_lockfile::{LockError, LockFile};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("lock");
/// let lock = LockFile::new(&path)?;
/// assert!(matches!(LockFile::new(&path), Err(LockError::Contended { .. })));
/// assert_eq!(std::fs::read_to_string(&path)?, format!(" {}\n", std::process::id()));
/// lock.close()?;
/// assert!(path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
    /// `Some` while the lock is held.
    held: Option<FileId>,
}

impl LockFile {
    /// Locks `path` with one try, writing this process's id into it.
    ///
    /// Creates the file (mode `0o644` less the umask) if it is missing. Fails with
    /// [`LockError::Contended`] if the lock is held by anyone, this thread included;
    /// to wait, use [`LockOptions::timeout`] or [`LockedContext`](crate::LockedContext).
    ///
    /// # Errors
    ///
    /// [`LockError::Contended`] if the lock is held, [`LockError::UnsafePath`] if
    /// `path` is a symlink or not a regular file, [`LockError::Io`] if the file
    /// cannot be opened or written.
    ///
    /// # Example
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = scoped_lockfile::LockFile::new(dir.path().join("lock"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Result<Self, LockError> {
        Self::lock(
            path.as_ref(),
            &Template::pid(),
            Wait::For(std::time::Duration::ZERO),
            DEFAULT_MODE,
        )
    }

    /// Locks `path` with one try, writing `template` rendered into it.
    ///
    /// The template knows `{pid}` and `{hostname}`, and `{{`/`}}` for literal
    /// braces; `"{pid};{hostname}"` writes e.g. `" 123;myhostname\n"`, which tells
    /// apart containers that all run as pid 1.
    ///
    /// # Errors
    ///
    /// As [`new`](LockFile::new), plus [`LockError::InvalidTemplate`] for any other
    /// placeholder, returned before the file is created or opened.
    ///
    /// # Example
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("lock");
    /// let lock = scoped_lockfile::LockFile::with_content_template(&path, "{pid};{hostname}")?;
    /// let content = std::fs::read_to_string(&path)?;
    /// assert!(content.starts_with(&format!(" {};", std::process::id())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_content_template(
        path: impl AsRef<Path>,
        template: &str,
    ) -> Result<Self, LockError> {
        LockOptions::new()
            .timeout(std::time::Duration::ZERO)
            .content_template(template)
            .lock(path)
    }

    pub(crate) fn lock(
        path: &Path,
        template: &Template,
        wait: Wait,
        mode: u32,
    ) -> Result<Self, LockError> {
        let locked = acquire(path, template, wait, mode)?;
        Ok(Self::from_locked(path.to_path_buf(), locked))
    }

    /// Wraps a lock just taken and registered by `acquire::finish`.
    pub(crate) fn from_locked(path: PathBuf, locked: Identified) -> Self {
        Self {
            file: locked.file,
            path,
            held: Some(locked.id),
        }
    }

    /// The path this lock was taken on, as given.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("lock");
    /// let lock = scoped_lockfile::LockFile::new(&path)?;
    /// assert_eq!(lock.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the lock and closes the file, reporting an error from the unlock.
    ///
    /// Dropping a `LockFile` releases it too, ignoring errors. The file stays.
    ///
    /// # Errors
    ///
    /// [`LockError::Io`] if the operating system fails to unlock; the descriptor
    /// is closed anyway, which releases the lock.
    ///
    /// # Example
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("lock");
    /// scoped_lockfile::LockFile::new(&path)?.close()?;
    /// scoped_lockfile::LockFile::new(&path)?.close()?; // free again at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<(), LockError> {
        self.release().map_err(|err| LockError::io(&self.path, err))
    }

    /// Unlocks explicitly rather than relying on close(2), so the lock is free the
    /// moment this returns even if something else still has the descriptor.
    fn release(&mut self) -> std::io::Result<()> {
        match self.held.take() {
            Some(id) => {
                held::unregister(id);
                self.file.unlock()
            }
            None => Ok(()),
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// The lock's descriptor, e.g. to let a child process inherit the lock, as
/// `flock(1)` does: the lock belongs to the open file description, so it lasts
/// while any process has a descriptor of it. The descriptor is close-on-exec;
/// clearing that flag (`fcntl(F_SETFD)`) before spawning hands a copy to the child.
///
/// ```
/// use std::os::fd::AsFd;
/// # let dir = tempfile::tempdir()?;
/// let lock = scoped_lockfile::LockFile::new(dir.path().join("lock"))?;
/// let fd = lock.as_fd();
/// # let _ = fd;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(unix)]
impl std::os::fd::AsFd for LockFile {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}
