//! `LockFile`: a held lock on exactly one path.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::acquire::{Taken, Wait, acquire};
use crate::fair::Ticket;
use crate::open::DEFAULT_MODE;
use crate::sys::{self, Access, FileId};
use crate::template::Template;
use crate::{LockError, LockOptions};

/// An exclusive lock on a file, held until [`close`](LockFile::close) or drop.
///
/// The equivalent of zc.lockfile's `LockFile`: the lock is the operating system's
/// advisory lock (`flock(2)` on Unix; on Windows, `LockFileEx` on byte 0, as
/// zc.lockfile takes it there), so it excludes every other process, and every
/// other open of the file in this process, that locks the same file this way,
/// including Python's zc.lockfile and util-linux `flock(1)`. The kernel
/// releases it when the holder exits or crashes, so there are no stale locks.
///
/// # Releasing
///
/// [`close`](LockFile::close) or drop releases the lock by closing the file:
/// never by an explicit unlock on Unix, because a process forked without
/// `exec` shares the lock's open file description with its parent, and an
/// unlock by either would release both. So a forked child that drops or closes
/// its copy of a `LockFile` leaves the parent's lock alone, and the lock is
/// held as long as either process keeps its copy open. A child gets copies of
/// the guards held when it was forked, and of nothing else that holds or can
/// come to hold a lock: the descriptors this crate's threads were waiting on,
/// or had locked but not yet handed to a guard (an async lock its task has not
/// polled yet), are closed in the child as it starts (a `pthread_atfork`
/// handler), so a wait the parent completes later gives the lock to the parent
/// alone; and a momentary lock (a [`probe`](crate::probe), a lock a helper
/// drops because its caller gave up, a first try refusing a file) is unlocked
/// explicitly before its descriptor is closed. A child's own waits get their
/// own helper threads and timer, and never wait for a mutex one of its
/// parent's threads held at the fork; an async wait started before the fork
/// and awaited in the child starts over there, keeping its deadline. A guard
/// may be moved to and dropped on any thread (`LockFile` is `Send`).
///
/// The same holds, for a moment, for a process that another thread of yours is
/// spawning right when you release: between its `fork` and its `exec` it has a
/// copy of every descriptor, and the lock is free once its `exec` has closed
/// that copy (the lock's descriptor is close-on-exec), microseconds later. A
/// one-try [`LockFile::new`] in that moment sees the lock held; a wait does not
/// notice.
///
/// # Removed or replaced lock files
///
/// Every wait (forever, with a timeout, async) waits on the file its first
/// try opened, whatever the path names by then. After every wait, the waiter
/// checks that its path (as given: a relative path is relative to the current
/// directory now) still names the file it got the lock of: a file removed,
/// replaced or renamed away while it waited (`rm` of a "stale" lock, a cleaner
/// of `/tmp`), or a symlinked directory switched (`current -> releases/vN`),
/// makes it let that lock go and start over on the file now at the path, so
/// two processes never hold "the lock" on two files of one name. Removing the file while it is *held*
/// cannot be detected by anyone: the holder keeps a lock on a nameless file
/// and a newcomer creates a new one. Never delete lock files. (A first try,
/// which does not wait, notices a removal between its `open` and its `flock`
/// but not a rename in those microseconds: checking the path would cost a
/// fifth of an uncontended take.)
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
/// lock.close()?;
/// // The file stays, with what the holder wrote (on Windows, byte 0 is
/// // readable by others only once the lock is released).
/// assert_eq!(std::fs::read_to_string(&path)?, format!(" {}\n", std::process::id()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the LockFile is dropped"]
pub struct LockFile {
    /// `None` only once released, in `close` or `drop`.
    file: Option<File>,
    path: PathBuf,
    id: FileId,
    /// A fair lock's place in its queue, let go just before the lock.
    ticket: Option<Ticket>,
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
            Access::Exclusive,
            Wait::For(std::time::Duration::ZERO),
            DEFAULT_MODE,
            false,
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
    /// lock.close()?;
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
        access: Access,
        wait: Wait,
        mode: u32,
        fair: bool,
    ) -> Result<Self, LockError> {
        let acquired = acquire(path, template, access, wait, mode, fair)?;
        Ok(Self::from_taken(
            path.to_path_buf(),
            acquired.taken,
            acquired.ticket,
        ))
    }

    /// Wraps a lock just taken, with its fair ticket if any: from here on, a
    /// forked child's copy of its descriptor is a copy of a guard, released
    /// by closing.
    pub(crate) fn from_taken(path: PathBuf, taken: Taken, mut ticket: Option<Ticket>) -> Self {
        let (file, id) = taken.into_guard();
        // The ticket after the lock file: a child forked in between gets the
        // lock's copy with its place in the queue, as a guard's, never the
        // place without the lock (which it would keep, the lock not).
        if let Some(ticket) = &mut ticket {
            ticket.now_a_guards();
        }
        Self {
            file: Some(file),
            path,
            id,
            ticket,
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

    /// Releases the lock and closes the file, reporting an error if the
    /// operating system reports one (only Windows' unlock can; on Unix the
    /// release is the close itself).
    ///
    /// Dropping a `LockFile` releases it too, ignoring errors. The file stays.
    ///
    /// # Errors
    ///
    /// [`LockError::Io`] if the operating system fails to unlock; the file is
    /// closed anyway, which releases the lock.
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

    fn release(&mut self) -> std::io::Result<()> {
        // The ticket first: fair waiters behind it may start for the lock
        // file, which is still ours for these microseconds, rather than find
        // it free with a queue in front of them.
        drop(self.ticket.take());
        self.file.take().map_or(Ok(()), sys::release)
    }

    /// The locked file's identity, for the `#[locked]` scope registry.
    pub(crate) fn file_id(&self) -> FileId {
        self.id
    }

    /// The locked file, for platform trait impls.
    pub(crate) fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("a LockFile holds its file until dropped")
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = self.release();
    }
}
