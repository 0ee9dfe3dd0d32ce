//! `EtcdGuard`: a held etcd lock, its fencing token, and whether it is still held.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scoped_lockfile::LockError;

use crate::background::Background;
use crate::errors::{LeaseLost, unavailable};
use crate::lease::{Lease, LeaseState};
use crate::locks::Shared;

/// A lock held on etcd; dropping it releases the lock.
///
/// Unlike a lock file, which the kernel holds for as long as the process
/// lives, an etcd lock lasts while its lease is kept alive, renewed every third
/// of the TTL by the handle's background thread. If the holder is cut off
/// from the cluster or frozen for about the TTL, the lease expires and another
/// process gets the lock. So code holding it should:
///
/// - hand [`fencing_token`](Self::fencing_token) to whatever it writes to, so
///   that a resource can refuse a holder whose token is older than one it has
///   seen (a holder that was frozen and resumed, still believing it holds the lock);
/// - check [`is_lost`](Self::is_lost) before each step, or race its work
///   against [`lost`](Self::lost), and stop when the lease is lost.
///
/// Both are raised by a client-side deadline a margin (a sixth of the TTL, at
/// least 100 ms) before the server can have expired the lease.
///
/// Release ([`close`](Self::close) or drop) revokes the lease, which deletes
/// the lock's key: the next waiter gets the lock at once. Dropping the guard
/// outside of async code waits for that, as closing a lock file would; inside a
/// tokio runtime it does not block, and the background thread finishes the
/// release (use [`close_async`](Self::close_async) to wait for it there).
///
/// # Example
///
/// ```no_run
/// // Needs an etcd cluster at 127.0.0.1:2379.
/// use scoped_lockfile::LockOptions;
/// use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
///
/// let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
/// let guard = LockOptions::new().lock_on(&etcd, "migrations")?;
/// for step in ["create table", "copy rows"] {
///     if guard.is_lost() {
///         return Err("lost the migrations lock".into());
///     }
///     println!("{step} with fencing token {}", guard.fencing_token());
/// }
/// guard.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EtcdGuard {
    shared: Arc<Shared>,
    name: String,
    key: String,
    token: u64,
    cluster_id: u64,
    state: Arc<LeaseState>,
    lease_id: i64,
    ttl: Duration,
    /// `None` once released.
    lease: Option<Lease>,
}

impl EtcdGuard {
    pub(crate) fn new(
        shared: Arc<Shared>,
        name: String,
        key: String,
        token: i64,
        cluster_id: u64,
        lease: Lease,
    ) -> Self {
        Self {
            shared,
            name,
            key,
            // etcd revisions start at 1 and only grow.
            token: token.unsigned_abs(),
            cluster_id,
            state: Arc::clone(&lease.state),
            lease_id: lease.id,
            ttl: lease.ttl,
            lease: Some(lease),
        }
    }

    /// The lock's name, as given to `lock_on`.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert_eq!(guard.name(), "deploy");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The etcd key that holds the lock: `PREFIX NAME/LEASE` with the lease id
    /// in hex, as `etcdctl lock` names its keys (its `ETCD_LOCK_KEY`).
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(guard.key().starts_with("deploy/"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token: the create revision of the lock's key. Every grant of
    /// any lock on the cluster gets a larger one than every grant before it.
    ///
    /// Tokens are comparable within one cluster only: a cluster rebuilt from
    /// scratch counts from 1 again. Pair the token with
    /// [`cluster_id`](Self::cluster_id) where that matters.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let options = scoped_lockfile::LockOptions::new();
    /// let first = options.lock_on(&etcd, "deploy")?.fencing_token();
    /// let second = options.lock_on(&etcd, "deploy")?.fencing_token();
    /// assert!(second > first);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// The id of the cluster that granted the lock, from its answers.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// println!("token {} of cluster {:x}", guard.fencing_token(), guard.cluster_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The lease's id, as etcd (and `etcdctl lease`) names it.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(guard.key().ends_with(&format!("{:x}", guard.lease_id())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lease_id(&self) -> i64 {
        self.lease_id
    }

    /// The TTL the server granted the lease.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(guard.ttl() >= std::time::Duration::from_secs(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the lock may be lost: the lease could not be renewed in time,
    /// the server said it is gone, or the key was deleted. Once true, always
    /// true; the work the lock protects should stop.
    ///
    /// It reads the clock itself, so it is right even if the background thread
    /// has not run since (e.g. the process was stopped past the deadline).
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(!guard.is_lost());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.state.is_lost()
    }

    /// Completes when the lock is lost (as [`is_lost`](Self::is_lost) says),
    /// or once the guard is released; on any executor. Race the work against
    /// it to stop the work when the lease goes.
    ///
    /// ```no_run
    /// # async fn work() {}
    /// # async fn example(etcd: scoped_lockfile_etcd::EtcdLocks) -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = scoped_lockfile::LockOptions::new().lock_on_async(&etcd, "deploy").await?;
    /// tokio::select! {
    ///     () = work() => guard.close_async().await?,
    ///     () = guard.lost() => return Err("lost the deploy lock".into()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        self.state.lost()
    }

    /// Until when the lock is surely held: the instant at which, unless the
    /// lease is renewed before, [`is_lost`](Self::is_lost) turns true. A
    /// margin (a sixth of the TTL, at least 100 ms) before the server can have
    /// expired the lease, and moved later by every renewal; in the past once
    /// the lock is lost for that reason. Something that must stop before
    /// another holder can start (a command `lockfile run` supervises) is
    /// stopped by this instant.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(guard.valid_until() > std::time::Instant::now());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn valid_until(&self) -> Instant {
        self.state.deadline()
    }

    /// A view of this lock's lease for another thread: [`LeaseWatch`] says
    /// what [`is_lost`](Self::is_lost), [`valid_until`](Self::valid_until)
    /// and [`lost`](Self::lost) say, without borrowing the guard.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// let watch = guard.watch();
    /// std::thread::spawn(move || assert!(!watch.is_lost()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch {
            state: Arc::clone(&self.state),
        }
    }

    /// Releases the lock and waits until etcd has deleted its key.
    ///
    /// # Errors
    ///
    /// `LockError` naming the lock, with [`LeaseLost`] as its source if the
    /// lock had been lost before (the work it protected may have overlapped
    /// with another holder's), or with the client's error if etcd could not
    /// be reached to release it (the lease then expires after its TTL).
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// guard.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<(), LockError> {
        let release = self.release();
        self.shared.background.block_on(release)
    }

    /// [`close`](Self::close) from async code, on any executor.
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    ///
    /// ```no_run
    /// # async fn example(etcd: scoped_lockfile_etcd::EtcdLocks) -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = scoped_lockfile::LockOptions::new().lock_on_async(&etcd, "deploy").await?;
    /// guard.close_async().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn close_async(mut self) -> impl Future<Output = Result<(), LockError>> + Send + 'static {
        let release = self.release();
        self.shared.background.run(release)
    }

    /// The release, to run on the background runtime; the guard is empty after.
    fn release(&mut self) -> impl Future<Output = Result<(), LockError>> + Send + 'static {
        let lease = self.lease.take();
        let name = self.name.clone();
        async move {
            let Some(lease) = lease else { return Ok(()) };
            let was_lost = lease.state.is_lost();
            let revoked = lease.revoke().await;
            if was_lost {
                return Err(unavailable(&name, LeaseLost::new(&name)));
            }
            revoked.map_err(|err| unavailable(&name, err))
        }
    }
}

impl Drop for EtcdGuard {
    fn drop(&mut self) {
        if self.lease.is_none() {
            return;
        }
        if Background::in_async_context() {
            // Dropping the lease revokes it on the background runtime; blocking
            // here could stall an executor (or, on the background thread, wait
            // for itself).
            drop(self.lease.take());
        } else {
            let release = self.release();
            let _ = self.shared.background.block_on(release);
        }
    }
}

impl fmt::Debug for EtcdGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdGuard")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("fencing_token", &self.token)
            .field("cluster_id", &self.cluster_id)
            .field("ttl", &self.ttl)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

/// Whether an [`EtcdGuard`]'s lock is still held, seen from any thread
/// ([`EtcdGuard::watch`]). Cloning it is cheap; it does not keep the lock.
///
/// ```no_run
/// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
/// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
/// let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
/// let watch = guard.watch().clone();
/// assert_eq!(watch.valid_until(), guard.valid_until());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LeaseWatch {
    state: Arc<LeaseState>,
}

impl LeaseWatch {
    /// As [`EtcdGuard::is_lost`].
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// # let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// assert!(!guard.watch().is_lost());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.state.is_lost()
    }

    /// As [`EtcdGuard::valid_until`].
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// # let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// let left = guard.watch().valid_until() - std::time::Instant::now();
    /// # let _ = left;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn valid_until(&self) -> Instant {
        self.state.deadline()
    }

    /// As [`EtcdGuard::lost`]: completes when the lock is lost, or once the
    /// guard is released.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// # let guard = scoped_lockfile::LockOptions::new().lock_on(&etcd, "deploy")?;
    /// let lost = guard.watch().lost();
    /// # drop(lost);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        self.state.lost()
    }
}

impl fmt::Debug for LeaseWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseWatch")
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}
