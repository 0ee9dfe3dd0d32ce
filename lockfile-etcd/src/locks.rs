//! `EtcdLocks`: a connected handle that takes locks on an etcd cluster.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use etcd_client::{Client, ConnectOptions, GetOptions, SortOrder, SortTarget};
use scoped_lockfile::{Backend, Holder, LockError, LockOptions};

use crate::acquire::{Request, acquire};
use crate::background::Background;
use crate::errors::{ConnectError, holder_of, unavailable, unsupported};
use crate::guard::EtcdGuard;
use crate::options::EtcdOptions;
use crate::retry::retry_until;

/// What every clone of a handle, and every guard it gave out, shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) options: EtcdOptions,
    pub(crate) background: Background,
    endpoints: Vec<String>,
}

/// A connection to an etcd cluster that takes the toolkit's locks on it.
///
/// A lock is named by a string; its etcd keys are `PREFIX NAME/LEASE`, the
/// scheme of etcd's own lock recipe, so these locks and `etcdctl lock NAME`
/// exclude each other. Waiters queue in the order they asked; a release hands
/// the lock to the next one at once (one round trip, no polling).
///
/// It is a [`Backend`]: take its locks with [`LockOptions::lock_on`] and
/// [`LockOptions::lock_on_async`], or `#[locked(NAME, on = ETCD)]` and
/// `with_lock!(NAME, on = ETCD, { .. })`. The options mean what they mean for
/// lock files: wait forever (the default), up to a timeout, or one try
/// (`Duration::ZERO`); the content template is what the lock's key says about
/// its holder, so that [`LockError::Contended`] and [`LockError::Timeout`] name
/// the [`Holder`]. A content that is just this process's id, as the default
/// template `{pid}` renders, is written as `{pid};{hostname}`: across machines
/// a pid alone names no process. Shared locks are [`LockError::Unsupported`].
///
/// Requests that fail because etcd cannot answer right now (no leader during
/// an election, a member down, a refused connection) are repeated for up to
/// the TTL, never past the caller's timeout; a one try repeats them for one
/// request timeout. If they keep failing, the lock fails with an error naming
/// it whose source is the client's error.
///
/// # Blocking and async
///
/// The handle owns a small tokio runtime on a thread of its own, where all its
/// requests and the keep-alives of its locks run. The blocking methods wait for
/// it, and may be called from any thread, though from async code they would
/// block the executor: use the async ones there (`lock_on_async`,
/// [`EtcdGuard::close_async`], [`probe_async`](Self::probe_async)), whose
/// futures run on any executor. Clones share the connection and the thread, which ends when
/// the last clone and the last guard are gone.
///
/// # Example
///
/// ```no_run
/// // Needs an etcd cluster at 127.0.0.1:2379.
/// use std::time::Duration;
/// use scoped_lockfile::{LockOptions, locked};
/// use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
///
/// let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
/// let options = LockOptions::new().timeout(Duration::from_secs(5));
/// let guard = options.lock_on(&etcd, "nightly-report")?;
/// println!("running with fencing token {}", guard.fencing_token());
/// guard.close()?;
///
/// // The same for a whole function, with the handle it is given:
/// #[locked("nightly-report", on = etcd, timeout = "5s")]
/// fn report(etcd: &EtcdLocks) -> Result<(), scoped_lockfile::LockError> {
///     Ok(())
/// }
/// report(&etcd)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct EtcdLocks {
    shared: Arc<Shared>,
}

impl EtcdLocks {
    /// Makes a handle on the cluster at `endpoints` (URLs such as
    /// `http://10.0.0.1:2379`; any member will do, the client balances
    /// between them).
    ///
    /// Connecting is lazy: an unreachable cluster shows when a lock is taken,
    /// as an error naming the lock.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] if no endpoints are given, one is not a URL, or the
    /// runtime's thread cannot be started.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    ///
    /// let etcd = EtcdLocks::connect(["http://127.0.0.1:2379"], EtcdOptions::new()).await?;
    /// # let _ = etcd;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect<I>(
        endpoints: I,
        options: EtcdOptions,
    ) -> impl Future<Output = Result<Self, ConnectError>> + Send + 'static
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let endpoints: Vec<String> = endpoints.into_iter().map(Into::into).collect();
        let connecting = start(endpoints, options);
        async move {
            let shared = connecting?.await?;
            Ok(Self {
                shared: Arc::new(shared),
            })
        }
    }

    /// [`connect`](Self::connect) for blocking code.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// ```no_run
    /// use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    ///
    /// let etcd = EtcdLocks::connect_blocking(
    ///     ["http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"],
    ///     EtcdOptions::new(),
    /// )?;
    /// # let _ = etcd;
    /// # Ok::<(), scoped_lockfile_etcd::ConnectError>(())
    /// ```
    pub fn connect_blocking<I>(endpoints: I, options: EtcdOptions) -> Result<Self, ConnectError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let endpoints: Vec<String> = endpoints.into_iter().map(Into::into).collect();
        let (background, connecting) = start_blocking(endpoints, options)?;
        let shared = background.block_on(connecting)?;
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// The endpoints this handle was made with.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// assert_eq!(etcd.endpoints(), ["http://127.0.0.1:2379"]);
    /// # Ok::<(), scoped_lockfile_etcd::ConnectError>(())
    /// ```
    pub fn endpoints(&self) -> &[String] {
        &self.shared.endpoints
    }

    /// Who holds the lock `name` right now, without taking it.
    ///
    /// # Errors
    ///
    /// An error naming the lock, with the client's error as its source, if
    /// etcd could not be asked (repeated for up to one request timeout).
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// use scoped_lockfile_etcd::EtcdProbe;
    ///
    /// let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// match etcd.probe("deploy")? {
    ///     EtcdProbe::Held { holder, .. } => println!("deploying: {holder:?}"),
    ///     _ => println!("idle"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn probe(&self, name: &str) -> Result<EtcdProbe, LockError> {
        let probing = probe(Arc::clone(&self.shared), name.to_owned());
        self.shared.background.block_on(probing)
    }

    /// [`probe`](Self::probe) from async code, on any executor.
    ///
    /// # Errors
    ///
    /// As [`probe`](Self::probe).
    ///
    /// ```no_run
    /// # async fn example(etcd: scoped_lockfile_etcd::EtcdLocks) -> Result<(), Box<dyn std::error::Error>> {
    /// let now = etcd.probe_async("deploy").await?;
    /// println!("{now:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn probe_async(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<EtcdProbe, LockError>> + Send + 'static {
        let probing = probe(Arc::clone(&self.shared), name.to_owned());
        self.shared.background.run(probing)
    }
}

/// Locks on etcd, named by strings: what `LockOptions::lock_on`,
/// `#[locked(NAME, on = ETCD)]` and `with_lock!(NAME, on = ETCD, { .. })` take.
///
/// # Errors
///
/// [`LockError::InvalidTemplate`] before anything is sent;
/// [`LockError::Contended`] (one try) or [`LockError::Timeout`] naming the
/// [`Holder`]; [`LockError::Unavailable`] if etcd could not be asked (its
/// source says why) or the waiter's lease was lost while it waited (source
/// [`LeaseLost`](crate::LeaseLost)); [`LockError::Unsupported`] for shared locks.
impl Backend for EtcdLocks {
    type Name = str;
    type Guard = EtcdGuard;

    /// Takes the lock `name` as `options` say, blocking this thread while it waits.
    ///
    /// ```no_run
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// # let etcd = EtcdLocks::connect_blocking(["http://127.0.0.1:2379"], EtcdOptions::new())?;
    /// use std::time::Duration;
    /// use scoped_lockfile::{Backend, Holder, LockError, LockOptions};
    ///
    /// match LockOptions::new().timeout(Duration::ZERO).lock_on(&etcd, "deploy") {
    ///     Ok(guard) => println!("deploying, token {}", guard.fencing_token()),
    ///     Err(LockError::Contended { holder, .. }) => println!("already deploying: {holder:?}"),
    ///     Err(err) => return Err(err.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn lock(&self, name: &str, options: &LockOptions) -> Result<EtcdGuard, LockError> {
        let request = request(name, options)?;
        let acquiring = acquire(Arc::clone(&self.shared), name.to_owned(), request);
        self.shared.background.block_on(acquiring)
    }

    /// The same from async code, on any executor. Dropping the future while
    /// it waits leaves the lock's queue.
    ///
    /// ```no_run
    /// # async fn example(etcd: scoped_lockfile_etcd::EtcdLocks) -> Result<(), Box<dyn std::error::Error>> {
    /// let guard = scoped_lockfile::LockOptions::new().lock_on_async(&etcd, "deploy").await?;
    /// guard.close_async().await?;
    /// # Ok(())
    /// # }
    /// ```
    fn lock_async(
        &self,
        name: &str,
        options: &LockOptions,
    ) -> impl Future<Output = Result<EtcdGuard, LockError>> + Send + 'static + use<> {
        let acquiring = request(name, options)
            .map(|request| acquire(Arc::clone(&self.shared), name.to_owned(), request))
            .map(|acquiring| self.shared.background.run(acquiring));
        async move { acquiring?.await }
    }
}

impl fmt::Debug for EtcdLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdLocks")
            .field("endpoints", &self.shared.endpoints)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// What a lock on etcd is like right now, as [`EtcdLocks::probe`] saw it.
///
/// A snapshot: the lock can be taken or released the moment after.
///
/// ```
/// use scoped_lockfile::Holder;
/// use scoped_lockfile_etcd::EtcdProbe;
///
/// let held = EtcdProbe::Held { holder: Holder::new(Some("4242;web-1".into())), fencing_token: 7, waiting: 0 };
/// assert_ne!(held, EtcdProbe::Free);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EtcdProbe {
    /// Nobody holds the lock, nobody waits for it.
    Free,
    /// Somebody holds the lock.
    Held {
        /// Who: what the holder's key says (`"{pid};{hostname}"` by
        /// default; no content when empty, as `etcdctl lock` leaves it).
        holder: Holder,
        /// The holder's fencing token.
        fencing_token: u64,
        /// How many others wait for it.
        waiting: u64,
    },
}

/// What the caller asked for, read from its options.
fn request(name: &str, options: &LockOptions) -> Result<Request, LockError> {
    if options.is_shared() {
        return Err(unsupported(name, "shared locks on etcd"));
    }
    let mut content = options.render_content(name)?;
    if content == std::process::id().to_string() {
        content = options
            .clone()
            .content_template("{pid};{hostname}")
            .render_content(name)?;
    }
    Ok(Request {
        wait: options.wait_limit(),
        content,
    })
}

/// Starts the runtime's thread and connects the client on it.
fn start(
    endpoints: Vec<String>,
    options: EtcdOptions,
) -> Result<crate::background::Task<Result<Shared, ConnectError>>, ConnectError> {
    let (background, connecting) = start_blocking(endpoints, options)?;
    Ok(background.run(connecting))
}

/// The runtime's thread, and the connection to run on it (the client must be
/// made there: its connections live on the runtime that opened them).
fn start_blocking(
    endpoints: Vec<String>,
    options: EtcdOptions,
) -> Result<
    (
        Background,
        impl Future<Output = Result<Shared, ConnectError>> + Send + 'static,
    ),
    ConnectError,
> {
    if endpoints.is_empty() {
        return Err(ConnectError::new(&endpoints, None));
    }
    let background =
        Background::start().map_err(|err| ConnectError::new(&endpoints, Some(err.into())))?;
    let timeout = options.get_request_timeout();
    let connect_options = ConnectOptions::new()
        .with_require_leader(true)
        .with_timeout(timeout)
        .with_connect_timeout(timeout)
        // Find a dead connection within a request timeout, and move on.
        .with_keep_alive(timeout / 2, timeout / 2);
    let kept = background.clone();
    let connecting = async move {
        let client = Client::connect(&endpoints, Some(connect_options))
            .await
            .map_err(|err| ConnectError::new(&endpoints, Some(err.into())))?;
        Ok(Shared {
            client,
            options,
            background: kept,
            endpoints,
        })
    };
    Ok((background, connecting))
}

async fn probe(shared: Arc<Shared>, name: String) -> Result<EtcdProbe, LockError> {
    let queue = format!("{}{name}/", shared.options.key_prefix());
    let until = std::time::Instant::now() + shared.options.get_request_timeout();
    let oldest = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let read = retry_until(Some(until), || {
        let mut client = shared.client.clone();
        let (queue, oldest) = (queue.clone(), oldest.clone());
        async move { client.get(queue, Some(oldest)).await }
    })
    .await
    .map_err(|err| unavailable(&name, err))?;
    Ok(match read.kvs().first() {
        None => EtcdProbe::Free,
        Some(first) => EtcdProbe::Held {
            holder: holder_of(first.value()),
            fencing_token: first.create_revision().unsigned_abs(),
            waiting: u64::try_from(read.count()).unwrap_or(1).saturating_sub(1),
        },
    })
}
