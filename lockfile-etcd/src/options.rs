//! `EtcdOptions`: how a handle talks to etcd, chosen once at connect time.

use std::time::Duration;

/// How [`EtcdLocks`](crate::EtcdLocks) uses the cluster: the lease TTL, the key
/// prefix, how long one request may take.
///
/// How to wait for a lock (forever, a timeout, one try) and what the lock says
/// about its holder are per lock, in [`LockOptions`](scoped_lockfile::LockOptions).
///
/// Defaults: TTL 10 s, no prefix, requests time out after 2 s.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use scoped_lockfile_etcd::EtcdOptions;
///
/// let options = EtcdOptions::new().ttl(Duration::from_secs(5)).prefix("locks/");
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    ttl: Duration,
    prefix: String,
    request_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl EtcdOptions {
    /// The defaults: TTL 10 s, no prefix, 2 s per request.
    ///
    /// ```
    /// let options = scoped_lockfile_etcd::EtcdOptions::new();
    /// # let _ = options;
    /// ```
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            prefix: String::new(),
            request_timeout: Duration::from_secs(2),
        }
    }

    /// How long a lock outlives a holder that stopped answering (crashed,
    /// frozen, cut off): the lease's time to live, in whole seconds, rounded
    /// up, at least 1 s. The server may grant a longer one (its minimum is
    /// about 1.5 election timeouts); guards use the TTL granted.
    ///
    /// A longer TTL survives longer network trouble without losing the lock; a
    /// shorter one hands a dead holder's lock on sooner.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = scoped_lockfile_etcd::EtcdOptions::new().ttl(Duration::from_secs(30));
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Prepended to every lock name to make its etcd key prefix, e.g.
    /// `"locks/"` puts the lock `deploy` under `locks/deploy/`. Empty by
    /// default, so that the lock `deploy` is the one `etcdctl lock deploy` takes.
    ///
    /// ```
    /// let options = scoped_lockfile_etcd::EtcdOptions::new().prefix("myapp/locks/");
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one request to etcd may take, connecting included, before it
    /// counts as failed (and is retried, as [`EtcdLocks`](crate::EtcdLocks) says).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = scoped_lockfile_etcd::EtcdOptions::new().request_timeout(Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The TTL in the whole seconds etcd takes: rounded up, at least 1.
    pub(crate) fn ttl_seconds(&self) -> i64 {
        let rounded_up = self
            .ttl
            .as_secs()
            .saturating_add(u64::from(self.ttl.subsec_nanos() > 0));
        i64::try_from(rounded_up.max(1)).unwrap_or(i64::MAX)
    }

    pub(crate) fn key_prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn get_request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_seconds_and_at_least_one() {
        let secs = |d| EtcdOptions::new().ttl(d).ttl_seconds();
        assert_eq!(secs(Duration::from_secs(10)), 10);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::ZERO), 1);
        assert_eq!(secs(Duration::MAX), i64::MAX);
    }
}
