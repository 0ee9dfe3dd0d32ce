//! `LockOptions`: every choice about how to lock, in one builder.

use std::fs::OpenOptions;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::acquire::{Wait, content_for};
use crate::lock_future::LockFuture;
use crate::locked_file::DataOpen;
use crate::open::{DEFAULT_MODE, READ_ONLY};
use crate::sys::Access;
use crate::template::Template;
use crate::{Backend, LockError, LockFile, LockedContext, LockedFile};

/// How to take a lock: how long to wait, what to write, which mode new files get.
///
/// Defaults: wait forever, template `"{pid}"`, mode `0o644` (less the umask).
/// Set what you need, then take a [`LockFile`], a [`LockedContext`] or a
/// [`LockedFile`] with it; the options can be reused.
///
/// # Waiting
///
/// Waiting forever blocks in the kernel and uses no CPU. A finite timeout tries
/// once, then waits in a helper thread that blocks in the kernel too, so the lock
/// is taken the moment it is released, not at the next poll. [`Duration::ZERO`]
/// means a single try, failing with [`LockError::Contended`]; a timeout too large
/// to add to the current time (e.g. [`Duration::MAX`]) means forever.
///
/// Every wait waits on the very file the first try opened (not the path
/// again, which a `cd`, a renamed directory or a switched symlink could make
/// name another file), and once it has the lock checks that the path still
/// names that file, starting over if not; see [`LockFile`]'s *Removed or
/// replaced lock files*.
///
/// A helper whose callers all gave up still takes the lock once when it is
/// released, and lets it go at once: for those microseconds a one-try
/// attempt elsewhere sees the lock held (by the helper's process).
///
/// # Shared locks
///
/// [`shared`](Self::shared) takes a reader's lock: any number of readers hold
/// it together, and a writer (the default, [`exclusive`](Self::exclusive))
/// waits until all have let go, as readers wait for a writer. It is `flock(2)`'s
/// `LOCK_SH`, so it coexists with `flock -s` and excludes `flock -x` and
/// zc.lockfile. A reader writes nothing into the lock file (readers would
/// overwrite each other): the file keeps what the last writer wrote, and
/// someone refused by readers is told the lock is "held shared"
/// ([`Holder::shared`](crate::Holder::shared)).
///
/// # Fair mode
///
/// `flock(2)` promises no order: a process that releases and takes the lock
/// again in a loop can keep it from one that waits, and a stream of readers
/// can keep a writer out for as long as it flows. With [`fair`](Self::fair),
/// waiters queue: a fair participant that finds the lock held takes a ticket
/// in a queue file beside the lock file (`<lock file>.queue`, created with the
/// lock file's mode by the first fair take, left behind and reused,
/// harmless), and is granted the lock after
/// every fair participant that took a ticket before it; fair readers queued
/// together hold it together, and no fair reader overtakes a fair writer
/// queued before it. A fair participant that finds the lock free takes it at
/// once unless fair waiters are queued, in which case it queues behind them.
///
/// The queue is made of the kernel's byte-range locks, so it is crash-safe: a
/// waiter that times out, is cancelled (its future dropped) or dies leaves the
/// queue at once, and there is nothing to clean up. Exclusion never depends
/// on the queue, only on the lock file, as in the default mode. Timed and
/// async fair waiters of a process share one helper thread per lock file, as
/// in the default mode: it waits for each one's turn in ticket order and
/// skips those that gave up, so a loop of timed-out attempts leaves at most
/// one thread behind, which exits once nobody waits.
///
/// To look for waiters cheaply, the first fair take creates the queue file,
/// and a process keeps the queue files it looked at open (close-on-exec, at
/// most 8, the oldest closed first): delete a queue file and a process may go
/// on looking at the old one. Never delete it; it is harmless.
///
/// What it does not promise:
/// - Order with respect to participants that are not fair (the default mode,
///   `flock(1)`, zc.lockfile): they exclude and are excluded as always, and
///   may take the lock ahead of the queue whenever they find it free.
/// - "Started waiting" means "took its ticket", right after a failed first
///   try: two processes starting within microseconds may be queued in either
///   order.
/// - NFS and other network file systems: exclusion is the lock file's, as in
///   the default mode; the queue's locks need OFD byte-range locks there too,
///   and their order across machines is the server's.
/// - Containers sharing the lock file's volume on one host share the kernel
///   and so the queue; on different hosts see NFS.
/// - Linux only for now (the queue needs byte-range locks owned by an open
///   file description).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use scoped_lockfile::LockOptions;
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("deploy.lock");
/// let opts = LockOptions::new()
///     .timeout(Duration::from_secs(5))
///     .content_template("{pid};{hostname}");
/// let lock = opts.lock(&path)?;
/// lock.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LockOptions {
    access: Access,
    wait: Wait,
    template: String,
    mode: u32,
    fair: bool,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LockOptions {
    /// The defaults: wait forever, template `"{pid}"`, mode `0o644`.
    ///
    /// ```
    /// let opts = scoped_lockfile::LockOptions::new();
    /// # let _ = opts;
    /// ```
    pub fn new() -> Self {
        Self {
            access: Access::Exclusive,
            wait: Wait::Forever,
            template: "{pid}".to_owned(),
            mode: DEFAULT_MODE,
            fair: false,
        }
    }

    /// Gives up after `timeout` with [`LockError::Timeout`]; zero means one try.
    ///
    /// ```
    /// use std::time::Duration;
    /// let one_try = scoped_lockfile::LockOptions::new().timeout(Duration::ZERO);
    /// # let _ = one_try;
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.wait = Wait::For(timeout);
        self
    }

    /// Waits as long as it takes (the default), undoing [`timeout`](Self::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let opts = scoped_lockfile::LockOptions::new().timeout(Duration::ZERO).wait_forever();
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn wait_forever(mut self) -> Self {
        self.wait = Wait::Forever;
        self
    }

    /// Takes a shared (reader's) lock: many at once, none while a writer holds
    /// it. See [Shared locks](Self#shared-locks).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("cache.lock");
    /// let readers = scoped_lockfile::LockOptions::new().shared();
    /// let first = readers.lock(&path)?;
    /// let second = readers.lock(&path)?; // readers coexist
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn shared(mut self) -> Self {
        self.access = Access::Shared;
        self
    }

    /// Takes an exclusive (writer's) lock, the default, undoing [`shared`](Self::shared).
    ///
    /// ```
    /// let writer = scoped_lockfile::LockOptions::new().shared().exclusive();
    /// # let _ = writer;
    /// ```
    #[must_use]
    pub fn exclusive(mut self) -> Self {
        self.access = Access::Exclusive;
        self
    }

    /// First come, first served: waits in a queue with the other fair
    /// participants of this lock file, which are granted it in the order they
    /// started waiting; a writer is not overtaken by readers that came after
    /// it. See [Fair mode](Self#fair-mode) for what is promised and what not.
    ///
    /// Linux only for now: elsewhere taking a fair lock fails with
    /// [`LockError::Unsupported`], before anything is opened.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("deploy.lock");
    /// let fair = scoped_lockfile::LockOptions::new().fair();
    /// # #[cfg(target_os = "linux")] {
    /// let lock = fair.lock(&path)?; // free: taken at once, nobody queued
    /// lock.close()?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn fair(mut self) -> Self {
        self.fair = true;
        self
    }

    /// What the lock file says while held: `{pid}`, `{hostname}`, literal text,
    /// and `{{`/`}}` for braces. It is checked when a lock is taken, before any
    /// file is touched; anything else in braces is [`LockError::InvalidTemplate`].
    ///
    /// ```
    /// let opts = scoped_lockfile::LockOptions::new().content_template("{pid};{hostname}");
    /// # let _ = opts;
    /// ```
    #[must_use]
    pub fn content_template(mut self, template: impl Into<String>) -> Self {
        self.template = template.into();
        self
    }

    /// Permission bits for a lock file this creates, before the umask is applied
    /// (default `0o644`). An existing file keeps its mode.
    ///
    /// ```
    /// let private = scoped_lockfile::LockOptions::new().mode(0o600);
    /// # let _ = private;
    /// ```
    #[cfg(unix)]
    #[must_use]
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode | (self.mode & READ_ONLY);
        self
    }

    /// Opens the lock file read-only and writes nothing into it: for a lock
    /// file this user may read but not write (another user's `0644` file, a
    /// read-only file system), which `flock(1)` would lock the same way.
    ///
    /// The lock needs no write access (`flock(2)` and `LockFileEx` take it
    /// through a read-only descriptor), so it excludes and is excluded as any
    /// other. But the file is not created if missing ([`LockError::Io`],
    /// not found), and keeps what the last writer wrote: it does not name
    /// this holder.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("theirs.lock");
    /// std::fs::write(&path, " 42;elsewhere\n")?;
    /// let lock = scoped_lockfile::LockOptions::new().read_only().lock(&path)?;
    /// assert!(scoped_lockfile::LockFile::new(&path).is_err());
    /// assert_eq!(std::fs::read_to_string(&path)?, " 42;elsewhere\n");
    /// # drop(lock);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.mode |= READ_ONLY;
        self
    }

    /// Locks exactly `path`, waiting as configured.
    ///
    /// # Errors
    ///
    /// [`LockError::InvalidTemplate`] before anything is touched; then
    /// [`LockError::Contended`] (zero timeout), [`LockError::Timeout`],
    /// [`LockError::WouldDeadlock`] when waiting forever from inside a sync
    /// `#[locked]` fn that holds this very lock (the one wait certain never to
    /// end), [`LockError::UnsafePath`] or [`LockError::Io`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = scoped_lockfile::LockOptions::new().lock(dir.path().join("exact.lock"))?;
    /// assert!(lock.path().ends_with("exact.lock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self, path: impl AsRef<Path>) -> Result<LockFile, LockError> {
        let path = path.as_ref();
        let template = self.parse_template(path)?;
        LockFile::lock(
            path,
            &template,
            self.access,
            self.wait,
            self.mode,
            self.fair,
        )
    }

    /// Locks `name` + `".lock"`, like zc.lockfile's `LockedContext`.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let guard = scoped_lockfile::LockOptions::new().locked_context(dir.path().join("job"))?;
    /// assert!(guard.path().ends_with("job.lock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn locked_context(&self, name: impl AsRef<Path>) -> Result<LockedContext, LockError> {
        self.lock(with_lock_suffix(name.as_ref()))
            .map(LockedContext::from_lock)
    }

    /// Locks `path` + `".lock"`, then opens `path` in a Python `open()` mode,
    /// refusing a symlink or a non-regular file there (see [`LockedFile`]).
    ///
    /// # Errors
    ///
    /// [`LockError::InvalidMode`] before anything is touched; then as
    /// [`lock`](Self::lock); then [`LockError::UnsafePath`] or [`LockError::Io`]
    /// naming `path` if it cannot be opened, with the lock already released.
    ///
    /// ```
    /// use std::io::Write;
    /// # let dir = tempfile::tempdir()?;
    /// let mut log = scoped_lockfile::LockOptions::new().locked_file(dir.path().join("log"), "a")?;
    /// writeln!(log, "one line, whole")?;
    /// log.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn locked_file(&self, path: impl AsRef<Path>, mode: &str) -> Result<LockedFile, LockError> {
        let path = path.as_ref();
        let options = parse_mode(path, mode, self.access)?;
        let lock = self.lock(with_lock_suffix(path))?;
        LockedFile::open_locked(path, DataOpen::Checked(options), lock)
    }

    /// Locks `path` + `".lock"`, then opens `path` with `options`, exactly as given.
    ///
    /// # Errors
    ///
    /// As [`locked_file`](Self::locked_file), without the mode check.
    ///
    /// ```
    /// use std::fs::OpenOptions;
    /// # let dir = tempfile::tempdir()?;
    /// let mut create = OpenOptions::new();
    /// create.write(true).create(true);
    /// let file = scoped_lockfile::LockOptions::new()
    ///     .locked_file_with_options(dir.path().join("state"), &create)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn locked_file_with_options(
        &self,
        path: impl AsRef<Path>,
        options: &OpenOptions,
    ) -> Result<LockedFile, LockError> {
        let path = path.as_ref();
        let lock = self.lock(with_lock_suffix(path))?;
        LockedFile::open_locked(path, DataOpen::AsGiven(options), lock)
    }

    /// Locks exactly `path` if it is free, with one try whatever the timeout:
    /// `Ok(None)` if someone holds it.
    ///
    /// # Errors
    ///
    /// Only real errors: [`LockError::InvalidTemplate`], [`LockError::UnsafePath`],
    /// [`LockError::Io`]; never `Contended`.
    ///
    /// ```
    /// use scoped_lockfile::LockOptions;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("cron.lock");
    /// let Some(lock) = LockOptions::new().try_lock(&path)? else {
    ///     return Ok(()); // another run is going: skip this one
    /// };
    /// assert!(LockOptions::new().try_lock(&path)?.is_none());
    /// lock.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self, path: impl AsRef<Path>) -> Result<Option<LockFile>, LockError> {
        free_or_none(self.one_try().lock(path))
    }

    /// Locks `name` + `".lock"` if it is free, with one try: `Ok(None)` if held.
    ///
    /// # Errors
    ///
    /// As [`try_lock`](Self::try_lock).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let opts = scoped_lockfile::LockOptions::new();
    /// let guard = opts.try_locked_context(dir.path().join("job"))?.expect("free");
    /// assert!(opts.try_locked_context(dir.path().join("job"))?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_locked_context(
        &self,
        name: impl AsRef<Path>,
    ) -> Result<Option<LockedContext>, LockError> {
        free_or_none(self.one_try().locked_context(name))
    }

    /// Locks `path` + `".lock"` if it is free, with one try, then opens `path`
    /// in a Python `open()` mode: `Ok(None)` if the lock is held.
    ///
    /// # Errors
    ///
    /// As [`try_lock`](Self::try_lock), plus [`LockError::InvalidMode`] and
    /// the data file's errors, as [`locked_file`](Self::locked_file).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let opts = scoped_lockfile::LockOptions::new();
    /// let log = opts.try_locked_file(dir.path().join("log"), "a")?.expect("free");
    /// assert!(opts.try_locked_file(dir.path().join("log"), "a")?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_locked_file(
        &self,
        path: impl AsRef<Path>,
        mode: &str,
    ) -> Result<Option<LockedFile>, LockError> {
        free_or_none(self.one_try().locked_file(path, mode))
    }

    /// These options, but for a single try.
    fn one_try(&self) -> Self {
        self.clone().timeout(Duration::ZERO)
    }

    /// Locks exactly `path` from async code, waiting as configured without
    /// blocking the executor: the first try is made when the future is first
    /// polled; while the lock is held elsewhere, a helper thread blocks in the
    /// kernel for it and wakes the task through its `Waker`. Works with any
    /// executor; the timeout is kept by the crate's own timer thread.
    ///
    /// Cancel-safe: dropping the future before it completes never leaves the
    /// lock held, now or later. It never returns [`LockError::WouldDeadlock`]:
    /// the waiting task yields, so a holder on the same thread can still run; a
    /// task that awaits a lock it holds itself waits for ever (or until its
    /// timeout), as with any async mutex.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), except `WouldDeadlock`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("job.lock");
    /// use std::time::Duration;
    ///
    /// let opts = scoped_lockfile::LockOptions::new().timeout(Duration::from_secs(5));
    /// let lock = opts.lock_async(&path).await?;
    /// // ... other tasks on this thread keep running while another waits ...
    /// lock.close()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock_async<P: AsRef<Path>>(
        &self,
        path: P,
    ) -> impl Future<Output = Result<LockFile, LockError>> + Send + 'static + use<P> {
        let path = path.as_ref();
        let content = self
            .parse_template(path)
            .map(|template| content_for(&template, self.access));
        LockFuture::new(
            path.to_path_buf(),
            content,
            self.access,
            self.wait,
            self.mode,
        )
        .fair(self.fair)
    }

    /// Locks `name` + `".lock"` from async code; see [`lock_async`](Self::lock_async).
    ///
    /// # Errors
    ///
    /// As [`lock_async`](Self::lock_async).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let guard = scoped_lockfile::LockOptions::new().locked_context_async(dir.path().join("job")).await?;
    /// assert!(guard.path().ends_with("job.lock"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn locked_context_async<P: AsRef<Path>>(
        &self,
        name: P,
    ) -> impl Future<Output = Result<LockedContext, LockError>> + Send + 'static + use<P> {
        let lock = self.lock_async(with_lock_suffix(name.as_ref()));
        async move { lock.await.map(LockedContext::from_lock) }
    }

    /// Locks `path` + `".lock"` from async code, then opens `path` in a Python
    /// `open()` mode, as [`locked_file`](Self::locked_file) does; see
    /// [`lock_async`](Self::lock_async) for the waiting.
    ///
    /// # Errors
    ///
    /// [`LockError::InvalidMode`] on the first poll, before anything is touched;
    /// then as [`lock_async`](Self::lock_async) and [`locked_file`](Self::locked_file).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::io::Write;
    ///
    /// let mut log = scoped_lockfile::LockOptions::new().locked_file_async(dir.path().join("log"), "a").await?;
    /// writeln!(log, "appended under the lock")?;
    /// log.close()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn locked_file_async<P: AsRef<Path>>(
        &self,
        path: P,
        mode: &str,
    ) -> impl Future<Output = Result<LockedFile, LockError>> + Send + 'static + use<P> {
        let path = path.as_ref().to_path_buf();
        let options = parse_mode(&path, mode, self.access);
        let lock = self.lock_async(with_lock_suffix(&path));
        async move {
            let options = options?;
            LockedFile::open_locked(&path, DataOpen::Checked(options), lock.await?)
        }
    }

    /// Locks `path` + `".lock"` from async code, then opens `path` with
    /// `options`, exactly as given; see [`lock_async`](Self::lock_async).
    ///
    /// # Errors
    ///
    /// As [`lock_async`](Self::lock_async), then [`LockError::Io`] naming `path`
    /// if it cannot be opened, with the lock already released.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::fs::OpenOptions;
    ///
    /// let mut create = OpenOptions::new();
    /// create.write(true).create(true);
    /// let state = scoped_lockfile::LockOptions::new()
    ///     .locked_file_with_options_async(dir.path().join("state"), &create)
    ///     .await?;
    /// state.close()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn locked_file_with_options_async<P: AsRef<Path>>(
        &self,
        path: P,
        options: &OpenOptions,
    ) -> impl Future<Output = Result<LockedFile, LockError>> + Send + 'static + use<P> {
        let path = path.as_ref().to_path_buf();
        let options = options.clone();
        let lock = self.lock_async(with_lock_suffix(&path));
        async move { LockedFile::open_locked(&path, DataOpen::AsGiven(&options), lock.await?) }
    }

    /// Takes the lock `name` on `backend` with these options: a lock file
    /// ([`Files`](crate::Files)), or a lock service implementing [`Backend`].
    ///
    /// # Errors
    ///
    /// As the backend's [`Backend::lock`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use scoped_lockfile::{Files, LockOptions};
    /// let guard = LockOptions::new().lock_on(&Files, dir.path().join("job"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_on<B: Backend + ?Sized>(
        &self,
        backend: &B,
        name: impl AsRef<B::Name>,
    ) -> Result<B::Guard, LockError> {
        backend.lock(name.as_ref(), self)
    }

    /// Takes the lock `name` on `backend` from async code; see [`lock_on`](Self::lock_on).
    ///
    /// # Errors
    ///
    /// As the backend's [`Backend::lock_async`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// use scoped_lockfile::{Files, LockOptions};
    /// let guard = LockOptions::new().lock_on_async(&Files, dir.path().join("job")).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock_on_async<B: Backend + ?Sized, N: AsRef<B::Name>>(
        &self,
        backend: &B,
        name: N,
    ) -> impl Future<Output = Result<B::Guard, LockError>> + Send + 'static + use<B, N> {
        backend.lock_async(name.as_ref(), self)
    }

    /// How long to wait, for backends: `None` to wait forever, zero for one try.
    ///
    /// ```
    /// use std::time::Duration;
    /// use scoped_lockfile::LockOptions;
    /// assert_eq!(LockOptions::new().wait_limit(), None);
    /// assert_eq!(LockOptions::new().timeout(Duration::ZERO).wait_limit(), Some(Duration::ZERO));
    /// ```
    pub fn wait_limit(&self) -> Option<Duration> {
        match self.wait {
            Wait::Forever => None,
            Wait::For(timeout) => Some(timeout),
        }
    }

    /// Whether these options take a shared (reader's) lock, for backends.
    ///
    /// ```
    /// assert!(scoped_lockfile::LockOptions::new().shared().is_shared());
    /// ```
    pub fn is_shared(&self) -> bool {
        self.access == Access::Shared
    }

    /// Whether these options take a fair lock ([`fair`](Self::fair)), for
    /// backends.
    ///
    /// ```
    /// assert!(scoped_lockfile::LockOptions::new().fair().is_fair());
    /// ```
    pub fn is_fair(&self) -> bool {
        self.fair
    }

    /// The content template rendered for this process, for backends: without
    /// the lock file's leading space and newline, e.g. `"4242;web-1"`.
    ///
    /// # Errors
    ///
    /// [`LockError::InvalidTemplate`] naming the lock `name`.
    ///
    /// ```
    /// let opts = scoped_lockfile::LockOptions::new().content_template("{pid};x");
    /// assert_eq!(opts.render_content("job")?, format!("{};x", std::process::id()));
    /// # Ok::<(), scoped_lockfile::LockError>(())
    /// ```
    pub fn render_content(&self, name: impl AsRef<Path>) -> Result<String, LockError> {
        let rendered = self.parse_template(name.as_ref())?.render();
        Ok(rendered[1..rendered.len() - 1].to_owned())
    }

    /// The template, then a line naming the running test (semantic 21).
    pub(crate) fn with_test_line(mut self, test: &str) -> Self {
        self.template.push('\n');
        self.template
            .push_str(&crate::harness::test_line_template(test));
        self
    }

    fn parse_template(&self, path: &Path) -> Result<Template, LockError> {
        Template::parse(&self.template).map_err(|bad| LockError::InvalidTemplate {
            path: path.to_path_buf(),
            template: self.template.clone(),
            placeholder: bad.0,
        })
    }
}

/// A Python mode string as `OpenOptions`, or the error naming the data file.
/// Under a shared lock only reading modes make sense: readers would race.
fn parse_mode(path: &Path, mode: &str, access: Access) -> Result<OpenOptions, LockError> {
    let invalid = |expected| LockError::InvalidMode {
        path: path.to_path_buf(),
        mode: mode.to_owned(),
        expected,
    };
    let parsed = crate::mode::parse(mode)
        .ok_or_else(|| invalid("one of r, w, a, x, optionally with + and b or t"))?;
    if access == Access::Shared && parsed.writes {
        return Err(invalid("a reading mode (r, rb or rt) under a shared lock"));
    }
    Ok(parsed.options)
}

/// `Contended` as `None`: the one outcome of a single try that is not an error.
fn free_or_none<T>(taken: Result<T, LockError>) -> Result<Option<T>, LockError> {
    match taken {
        Ok(taken) => Ok(Some(taken)),
        Err(LockError::Contended { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `name` + `".lock"`, appended to the last component (`a/b` → `a/b.lock`).
pub(crate) fn with_lock_suffix(name: &Path) -> PathBuf {
    let mut path = name.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}
