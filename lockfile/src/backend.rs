//! What a lock backend is (semantic 16): the lock files of this crate are one;
//! a lock service (etcd, in `scoped-lockfile-etcd`) is another. One API for
//! both: `LockOptions` says how to lock, the backend says where.

use std::future::Future;
use std::path::Path;

use crate::{LockError, LockOptions, LockedContext};

/// A place where named locks live.
///
/// [`LockOptions::lock_on`] takes a lock on any backend with the same options
/// as a lock file (wait forever, a timeout, zero for one try, the content
/// template, shared or not), and `#[locked(NAME, on = BACKEND)]` and
/// `with_lock!(NAME, on = BACKEND, { .. })` do it for a function or a block.
/// [`Files`], this crate's lock files, is the default.
///
/// Implementing it: read the options through [`LockOptions::wait_limit`],
/// [`LockOptions::is_shared`] and [`LockOptions::render_content`]; report a
/// held lock as [`LockError::Contended`] or [`LockError::Timeout`] naming the
/// [`Holder`](crate::Holder), a backend that cannot be reached as
/// [`LockError::Unavailable`], and a kind of lock it cannot take as
/// [`LockError::Unsupported`], with the lock's name as the error's `path`.
///
/// ```
/// use scoped_lockfile::{Files, LockOptions};
/// use std::time::Duration;
///
/// # let dir = tempfile::tempdir()?;
/// # let name = dir.path().join("deploy");
/// let opts = LockOptions::new().timeout(Duration::from_secs(5));
/// let guard = opts.lock_on(&Files, &name)?; // the same as opts.locked_context(&name)
/// assert!(guard.path().ends_with("deploy.lock"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Backend {
    /// What names a lock: [`Path`] for lock files, `str` for a service's keys.
    type Name: ?Sized;
    /// A held lock; dropping it releases it.
    type Guard: Send + 'static;

    /// Takes the lock `name` as `options` say, blocking the calling thread
    /// while it waits.
    ///
    /// # Errors
    ///
    /// [`LockError::Contended`] (one try), [`LockError::Timeout`], and
    /// whatever else stopped the backend, as above.
    fn lock(&self, name: &Self::Name, options: &LockOptions) -> Result<Self::Guard, LockError>;

    /// Takes the lock `name` as `options` say, from async code: the future
    /// waits without blocking its executor.
    fn lock_async(
        &self,
        name: &Self::Name,
        options: &LockOptions,
    ) -> impl Future<Output = Result<Self::Guard, LockError>> + Send + 'static + use<Self>;
}

/// The lock files of this crate: the lock named `name` is the file
/// `name + ".lock"`, as with [`LockedContext`]. The default backend.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let guard = scoped_lockfile::LockOptions::new().lock_on(&scoped_lockfile::Files, dir.path().join("job"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Files;

impl Backend for Files {
    type Name = Path;
    type Guard = LockedContext;

    fn lock(&self, name: &Path, options: &LockOptions) -> Result<LockedContext, LockError> {
        options.locked_context(name)
    }

    fn lock_async(
        &self,
        name: &Path,
        options: &LockOptions,
    ) -> impl Future<Output = Result<LockedContext, LockError>> + Send + 'static + use<> {
        // Owned, so the future borrows nothing of the caller's.
        options.locked_context_async(name.to_path_buf())
    }
}

/// A reference to a backend is a backend, so `on = handle` works with a
/// handle the function borrows.
impl<'a, B: Backend + ?Sized> Backend for &'a B {
    type Name = B::Name;
    type Guard = B::Guard;

    fn lock(&self, name: &Self::Name, options: &LockOptions) -> Result<Self::Guard, LockError> {
        (**self).lock(name, options)
    }

    fn lock_async(
        &self,
        name: &Self::Name,
        options: &LockOptions,
    ) -> impl Future<Output = Result<Self::Guard, LockError>> + Send + 'static + use<'a, B> {
        (**self).lock_async(name, options)
    }
}
