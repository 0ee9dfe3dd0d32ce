//! What can go wrong, as the toolkit's `LockError` and this crate's own two errors.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use scoped_lockfile::{Holder, LockError};

/// The source of a boxed error, as `LockError::Unavailable` carries it.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Who holds a lock, from its key's value: trimmed, and no content when empty
/// (`etcdctl lock` writes nothing).
pub(crate) fn holder_of(value: &[u8]) -> Holder {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    Holder::new((!text.is_empty()).then(|| text.to_owned()))
}

/// One try found the lock held.
pub(crate) fn contended(name: &str, holder: Holder) -> LockError {
    LockError::Contended {
        path: PathBuf::from(name),
        holder,
    }
}

/// The lock stayed held for the whole timeout.
pub(crate) fn timed_out(
    name: &str,
    timeout: Duration,
    waited: Duration,
    holder: Holder,
) -> LockError {
    LockError::Timeout {
        path: PathBuf::from(name),
        timeout,
        waited,
        holder,
    }
}

/// etcd could not be asked, or our lease ended while we waited.
pub(crate) fn unavailable(name: &str, source: impl Into<BoxError>) -> LockError {
    let source = source.into();
    let source: BoxError = match source.downcast::<etcd_client::Error>() {
        Ok(etcd) => Box::new(Unanswered(*etcd)),
        Err(other) => other,
    };
    LockError::Unavailable {
        path: PathBuf::from(name),
        source,
    }
}

/// etcd-client's error, said briefly: what failed and, for a transport error,
/// the deepest cause (`tcp connect error: Connection refused`), rather than
/// tonic's debug output. The client's error is its `source`.
#[derive(Debug)]
struct Unanswered(etcd_client::Error);

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let etcd_client::Error::GRpcStatus(status) = &self.0 else {
            return write!(f, "etcd did not answer: {}", self.0);
        };
        write!(f, "etcd did not answer: {}", status.message())?;
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(status);
        let mut deepest = None;
        while let Some(error) = cause {
            deepest = Some(error);
            cause = error.source();
        }
        match deepest {
            Some(deepest) => write!(f, ": {deepest}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Unanswered {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The backend cannot do what the options ask (e.g. a shared lock).
pub(crate) fn unsupported(name: &str, what: &'static str) -> LockError {
    LockError::Unsupported {
        path: PathBuf::from(name),
        what,
    }
}

/// The lease of a lock ended before its guard let go of it: its holder was cut
/// off from etcd (or frozen) for about the TTL, or someone revoked the lease or
/// deleted the lock's key.
///
/// The source of the [`LockError`] of a wait that lost its place in the queue
/// this way, and the error of [`EtcdGuard::close`](crate::EtcdGuard::close)
/// when the lock had already been lost.
///
/// # Example
///
/// ```
/// use scoped_lockfile_etcd::LeaseLost;
///
/// let err = LeaseLost::new("deploy");
/// assert_eq!(err.to_string(), "the etcd lease of the lock 'deploy' was lost");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseLost {
    name: String,
}

impl LeaseLost {
    /// The error for the lock `name`.
    ///
    /// ```
    /// let err = scoped_lockfile_etcd::LeaseLost::new("deploy");
    /// assert_eq!(err.name(), "deploy");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// The lock's name.
    ///
    /// ```
    /// assert_eq!(scoped_lockfile_etcd::LeaseLost::new("a").name(), "a");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for LeaseLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the etcd lease of the lock '{}' was lost", self.name)
    }
}

impl std::error::Error for LeaseLost {}

/// [`EtcdLocks::connect`](crate::EtcdLocks::connect) could not make a client:
/// no endpoints, an endpoint that is not a URL, or no thread for the runtime.
///
/// Unreachable endpoints are not this error: connecting is lazy, and a cluster
/// that cannot be reached makes each lock fail with `LockError::Unavailable`.
///
/// # Example
///
/// ```
/// use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
///
/// let err = EtcdLocks::connect_blocking(Vec::<String>::new(), EtcdOptions::new()).unwrap_err();
/// assert!(err.to_string().contains("no etcd endpoints"));
/// ```
#[derive(Debug)]
pub struct ConnectError {
    endpoints: Vec<String>,
    source: Option<BoxError>,
}

impl ConnectError {
    pub(crate) fn new(endpoints: &[String], source: Option<BoxError>) -> Self {
        Self {
            endpoints: endpoints.to_vec(),
            source,
        }
    }

    /// The endpoints given to `connect`.
    ///
    /// ```
    /// # use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};
    /// let err = EtcdLocks::connect_blocking(["not a url"], EtcdOptions::new()).unwrap_err();
    /// assert_eq!(err.endpoints(), ["not a url"]);
    /// ```
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.endpoints.is_empty() {
            return write!(f, "no etcd endpoints given");
        }
        write!(
            f,
            "cannot use the etcd endpoints {}",
            self.endpoints.join(",")
        )?;
        match &self.source {
            Some(source) => write!(f, ": {source}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ConnectError {
    /// The message already says the underlying error; this is the error under
    /// that one, if any, so that an error chain does not print it twice.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().and_then(std::error::Error::source)
    }
}
