//! Several locks at once (semantic 20): one canonical order, one timeout for
//! the whole set, all or none.
//!
//! Two callers that take `{a, b}` and `{b, a}` at once cannot deadlock,
//! because both take them in the same order: sorted by the identity of each
//! lock file's directory (device and inode, not its path) and then the file
//! name, so `./a`, `a`, `dir/../a` and `a` reached through a bind mount or a
//! symlinked directory are one lock, taken once and in the same place by
//! every process. A path would not do: one directory can have a different
//! resolved path in each process (a container's view of a host volume), and
//! then two processes would order the same two locks differently.

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::options::with_lock_suffix;
use crate::sys::{self, FileId};
use crate::{LockError, LockOptions, LockedContext};

/// Locks `name + ".lock"` for each of several names, held together until
/// [`close`](LockedSet::close) or drop; from [`LockOptions::locked_set`].
///
/// The locks were taken in canonical order (sorted by their directory's
/// identity, then file name; duplicates merged, see
/// [`LockOptions::locked_set`]), so [`paths`](Self::paths) lists them in that
/// order, as canonical paths.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let (db, port) = (dir.path().join("db"), dir.path().join("port"));
/// let both = scoped_lockfile::LockOptions::new().locked_set([&port, &db])?;
/// assert_eq!(both.len(), 2);
/// // One directory: sorted by name.
/// assert!(both.paths().next().unwrap().ends_with("db.lock"));
/// both.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LockedSet {
    locks: Vec<LockedContext>,
}

impl LockedSet {
    /// The lock files held, canonical (the directory resolved; of several
    /// spellings of one lock, the first given), in the order they were taken.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let set = scoped_lockfile::LockOptions::new().locked_set([dir.path().join("a")])?;
    /// assert_eq!(set.paths().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn paths(&self) -> impl ExactSizeIterator<Item = &Path> {
        self.locks.iter().map(LockedContext::path)
    }

    /// How many distinct locks are held.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let a = dir.path().join("a");
    /// let set = scoped_lockfile::LockOptions::new().locked_set([&a, &a])?;
    /// assert_eq!(set.len(), 1); // duplicates merged
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Whether the set holds no lock (it was given no name).
    ///
    /// ```
    /// let none: [&str; 0] = [];
    /// assert!(scoped_lockfile::LockOptions::new().locked_set(none)?.is_empty());
    /// # Ok::<(), scoped_lockfile::LockError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// Releases every lock, last taken first, reporting the first error (drop
    /// ignores them); every lock is released whatever the errors.
    ///
    /// # Errors
    ///
    /// As [`LockFile::close`](crate::LockFile::close).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let set = scoped_lockfile::LockOptions::new().locked_set([dir.path().join("a")])?;
    /// set.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<(), LockError> {
        let mut first = Ok(());
        while let Some(lock) = self.locks.pop() {
            let closed = lock.close();
            if first.is_ok() {
                first = closed;
            }
        }
        first
    }

    pub(crate) fn file_ids(&self) -> impl Iterator<Item = FileId> + '_ {
        self.locks.iter().map(LockedContext::file_id)
    }
}

impl Drop for LockedSet {
    /// Last taken, first released, as `close` does.
    fn drop(&mut self) {
        while self.locks.pop().is_some() {}
    }
}

impl LockOptions {
    /// Locks `name + ".lock"` for every name, as one lock: in canonical order
    /// (duplicates merged), so that two callers taking `{a, b}` and `{b, a}`
    /// at once never deadlock. One timeout covers the whole set; on any
    /// failure the locks already taken are released, so none is held;
    /// [`shared`](Self::shared) applies to every lock.
    ///
    /// The order is that of each lock file's directory identity (inode and
    /// device on Unix, file index and volume serial number on Windows), then
    /// its file name: not of its path, which can differ from process to
    /// process for one directory (a bind mount, a container's view of a host
    /// volume, a symlinked directory), so that every process orders one lock
    /// alike whatever path it names it by, and a set naming it twice takes it
    /// once. The lock file's own identity is not used: creating the file
    /// would change it. Within one directory the order is by file name.
    ///
    /// A name's directory must exist (its identity is needed to order it);
    /// the lock file need not. An empty set holds nothing and succeeds.
    /// A lock file reached through two hard links, or through two spellings
    /// of its name on a case-insensitive file system, is two locks to the
    /// ordering: do not.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), naming the lock that failed by its canonical
    /// path; [`LockError::Io`] if a name's directory cannot be resolved or
    /// looked at. A set
    /// whose timeout runs out fails with [`LockError::Timeout`] carrying the
    /// set's timeout and the time since the set was started, whichever lock it
    /// was on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use scoped_lockfile::{LockError, LockOptions};
    /// # let dir = tempfile::tempdir()?;
    /// # let (db, port) = (dir.path().join("db"), dir.path().join("port"));
    ///
    /// let opts = LockOptions::new().timeout(Duration::from_millis(100));
    /// let _port = LockOptions::new().locked_context(&port)?;
    /// let err = opts.locked_set([&db, &port]).unwrap_err();
    /// assert!(matches!(err, LockError::Timeout { .. }));
    /// // The failure left nothing held: `db` is free.
    /// assert!(LockOptions::new().try_locked_context(&db)?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn locked_set<I>(&self, names: I) -> Result<LockedSet, LockError>
    where
        I: IntoIterator,
        I::Item: AsRef<Path>,
    {
        let paths = canonical_order(names)?;
        let started = Instant::now();
        let mut locks = Vec::with_capacity(paths.len());
        for path in &paths {
            let lock = self
                .for_the_rest(started)
                .lock(path)
                .map_err(|err| self.set_error(err, started))?;
            locks.push(LockedContext::from_lock(lock));
        }
        Ok(LockedSet { locks })
    }

    /// Locks a set from async code: as [`locked_set`](Self::locked_set),
    /// each lock awaited as [`lock_async`](Self::lock_async) does, without
    /// blocking the executor. Dropping the future releases what it took.
    ///
    /// # Errors
    ///
    /// As [`locked_set`](Self::locked_set), never `WouldDeadlock`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let names = [dir.path().join("db"), dir.path().join("port")];
    /// let set = scoped_lockfile::LockOptions::new().locked_set_async(&names).await?;
    /// assert_eq!(set.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn locked_set_async<I>(
        &self,
        names: I,
    ) -> impl Future<Output = Result<LockedSet, LockError>> + Send + 'static + use<I>
    where
        I: IntoIterator,
        I::Item: AsRef<Path>,
    {
        // Owned now, so the future borrows nothing of the caller's.
        let names: Vec<PathBuf> = names
            .into_iter()
            .map(|name| name.as_ref().to_path_buf())
            .collect();
        let options = self.clone();
        async move {
            let paths = canonical_order(&names)?;
            let started = Instant::now();
            let mut locks = Vec::with_capacity(paths.len());
            for path in &paths {
                let lock = options
                    .for_the_rest(started)
                    .lock_async(path)
                    .await
                    .map_err(|err| options.set_error(err, started))?;
                locks.push(LockedContext::from_lock(lock));
            }
            Ok(LockedSet { locks })
        }
    }

    /// These options, with what is left of the set's timeout: zero once it
    /// has run out, so a lock still free is taken and a held one fails now.
    fn for_the_rest(&self, started: Instant) -> Self {
        match self.wait_limit() {
            None => self.clone(),
            Some(limit) => self
                .clone()
                .timeout(limit.saturating_sub(started.elapsed())),
        }
    }

    /// A lock that ran out of the set's time is the set's timeout: the
    /// timeout asked for, the time since the set started.
    fn set_error(&self, err: LockError, started: Instant) -> LockError {
        let Some(timeout) = self.wait_limit().filter(|limit| *limit > Duration::ZERO) else {
            return err;
        };
        match err {
            LockError::Contended { path, holder } | LockError::Timeout { path, holder, .. } => {
                LockError::Timeout {
                    path,
                    timeout,
                    waited: started.elapsed(),
                    holder,
                }
            }
            other => other,
        }
    }
}

/// Each name's lock file, its directory resolved (the file itself need not
/// exist), sorted by [`OrderKey`], duplicates merged (the first spelling
/// given is kept).
fn canonical_order<I>(names: I) -> Result<Vec<PathBuf>, LockError>
where
    I: IntoIterator,
    I::Item: AsRef<Path>,
{
    let mut keyed = names
        .into_iter()
        .map(|name| keyed_lock_path(&with_lock_suffix(name.as_ref())))
        .collect::<Result<Vec<_>, _>>()?;
    // Stable: of the spellings of one lock, the first given is the one kept.
    keyed.sort_by(|(a, _), (b, _)| a.cmp(b));
    keyed.dedup_by(|(later, _), (earlier, _)| later == earlier);
    Ok(keyed.into_iter().map(|(_, path)| path).collect())
}

/// What a set is ordered and de-duplicated by: the identity of the lock
/// file's directory (inode and device on Unix, file index and volume serial
/// number on Windows) and the file name. Unlike a path, that is the same
/// whatever path reaches the directory: through a bind mount (a container's
/// view of a host volume), another mount of it, or a symlink. Two processes
/// naming one lock by different paths must still take it in the same place
/// in their sets, or `{a, b}` and `{b, a}` deadlock; and one set naming it
/// twice must take it once, not wait on itself. It does not change when the
/// lock file is created, as the file's own identity would.
///
/// Compared in field order: the inode before the device, so that hosts
/// sharing network file systems, whose device numbers for them may differ
/// from host to host, still order the locks of one such file system alike.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    dir_index: u128,
    name: OsString,
    dir_volume: u64,
}

/// The lock path to open (the directory canonicalized, the file name kept: a
/// symlinked lock file is refused when it is opened, semantic 12) and its
/// [`OrderKey`].
fn keyed_lock_path(lock: &Path) -> Result<(OrderKey, PathBuf), LockError> {
    let Some(file_name) = lock.file_name() else {
        // Not expected once `.lock` is appended; left for `lock` to refuse.
        let key = OrderKey {
            dir_index: 0,
            name: lock.as_os_str().to_owned(),
            dir_volume: 0,
        };
        return Ok((key, lock.to_path_buf()));
    };
    let dir = match lock.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).map_err(|err| LockError::io(lock, err))?;
    // The canonical path names no link, so this is the directory itself.
    let info = sys::path_info(&dir).map_err(|err| LockError::io(lock, err))?;
    let key = OrderKey {
        dir_index: info.id.index,
        name: file_name.to_owned(),
        dir_volume: info.id.volume,
    };
    Ok((key, dir.join(file_name)))
}
