//! One lease per lock: granted for the acquisition, kept alive while held,
//! revoked on release; and the client-side deadline that says it is lost.
//!
//! The server expires a lease TTL seconds after the last keep-alive it
//! processed. We cannot see that moment, but it is never earlier than TTL after
//! we *sent* the last keep-alive that succeeded: so the lease is surely alive
//! until `sent + TTL`, and we call it lost a margin before that, when no later
//! keep-alive got through. The clock is the monotonic one, which keeps running
//! while the process is stopped (SIGSTOP), so a holder resumed after its TTL
//! sees at once that its lease is gone, before it touches anything.
//!
//! (A machine suspended to RAM is the exception: Linux's monotonic clock stops
//! while suspended, the server's does not. Keep-alives resume on wake-up and
//! the server's answer, TTL 0, marks the lease lost then.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, Error, LeaseKeepAliveStream, LeaseKeeper};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::locks::Shared;
use crate::retry::{Backoff, MAX_BACKOFF, retry_until};

/// How long before the surely-alive limit we call the lease lost: room for
/// clock-rate differences and for the holder to stop its work. A sixth of the
/// TTL, at least 100 ms.
pub(crate) fn margin(ttl: Duration) -> Duration {
    (ttl / 6).max(Duration::from_millis(100))
}

/// When a lease renewed for `ttl` by a request sent at `sent` is called lost.
fn lost_after(sent: Instant, ttl: Duration) -> Instant {
    sent + ttl.saturating_sub(margin(ttl))
}

/// Whether the lease is lost, shared by the guard and the lease's tasks.
#[derive(Debug)]
pub(crate) struct LeaseState {
    /// Set once, never cleared; a `watch` so that futures can wait for it on
    /// any executor.
    lost: watch::Sender<bool>,
    /// Past this instant the lease may have expired on the server.
    deadline: Mutex<Instant>,
}

impl LeaseState {
    fn new(deadline: Instant) -> Self {
        Self {
            lost: watch::Sender::new(false),
            deadline: Mutex::new(deadline),
        }
    }

    /// Lost, as marked by a task or by the clock itself (so a starved or
    /// stopped task cannot make a lost lease look alive).
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow() || Instant::now() >= self.deadline()
    }

    pub(crate) fn deadline(&self) -> Instant {
        *self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn extend_to(&self, deadline: Instant) {
        let mut current = self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (*current).max(deadline);
    }

    pub(crate) fn mark_lost(&self) {
        self.lost.send_replace(true);
    }

    /// Completes once the lease is marked lost, or when nothing can mark it any
    /// more (its tasks ended with the release).
    pub(crate) fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.subscribe();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
    }
}

/// A granted lease and the tasks that watch over it. Dropping it without
/// [`revoke`](Self::revoke) revokes it in the background, so that a cancelled
/// or failed acquisition leaves no key behind in the lock's queue.
pub(crate) struct Lease {
    pub(crate) id: i64,
    /// The TTL the server granted.
    pub(crate) ttl: Duration,
    pub(crate) state: Arc<LeaseState>,
    tasks: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    revoked: bool,
}

impl Lease {
    /// Grants a lease and starts keeping it alive.
    pub(crate) async fn grant(shared: &Arc<Shared>, retry: Option<Instant>) -> Result<Self, Error> {
        let ttl_seconds = shared.options.ttl_seconds();
        let mut sent = Instant::now();
        let granted = retry_until(retry, || {
            let mut client = shared.client.clone();
            sent = Instant::now();
            async move { client.lease_grant(ttl_seconds, None).await }
        })
        .await?;
        let ttl = Duration::from_secs(u64::try_from(granted.ttl()).unwrap_or(0).max(1));
        let state = Arc::new(LeaseState::new(lost_after(sent, ttl)));
        let keep_alive = shared.background.spawn(keep_alive(
            shared.client.clone(),
            granted.id(),
            ttl,
            Arc::clone(&state),
        ));
        Ok(Self {
            id: granted.id(),
            ttl,
            state,
            tasks: vec![keep_alive],
            shared: Arc::clone(shared),
            revoked: false,
        })
    }

    /// Also calls the lease lost when `key`, which it holds, is deleted or
    /// re-created: by a revoke from elsewhere, an `etcdctl del`, an expiry the
    /// keep-alives have not noticed yet. `seen` is a revision at which the key
    /// was ours, created at `create_revision`.
    pub(crate) fn watch_key(&mut self, key: String, create_revision: i64, seen: i64) {
        let task = self.shared.background.spawn(watch_key(
            self.shared.client.clone(),
            key,
            create_revision,
            seen,
            Arc::clone(&self.state),
        ));
        self.tasks.push(task);
    }

    /// Stops the tasks and revokes the lease, which deletes its key in the same
    /// step. Repeated on transient errors for up to one request timeout.
    pub(crate) async fn revoke(mut self) -> Result<(), Error> {
        self.revoked = true;
        self.stop_tasks();
        let until = Instant::now() + self.shared.options.get_request_timeout();
        revoke(&self.shared.client, self.id, Some(until)).await
    }

    fn stop_tasks(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_tasks();
        if !self.revoked {
            let shared = Arc::clone(&self.shared);
            let id = self.id;
            // The task holds `shared`, so the runtime runs until it is done.
            self.shared.background.spawn(async move {
                let until = Instant::now() + shared.options.get_request_timeout();
                let _ = revoke(&shared.client, id, Some(until)).await;
            });
        }
    }
}

async fn revoke(client: &Client, id: i64, until: Option<Instant>) -> Result<(), Error> {
    let revoked = retry_until(until, || {
        let mut client = client.clone();
        async move { client.lease_revoke(id).await }
    })
    .await;
    match revoked {
        // Already gone (expired, revoked elsewhere): its key is gone too.
        Err(err) if is_lease_not_found(&err) => Ok(()),
        other => other.map(drop),
    }
}

/// etcd's answer for a lease it does not have: expired or revoked.
fn is_lease_not_found(err: &Error) -> bool {
    const NOT_FOUND: i32 = 5;
    match err {
        Error::GRpcStatus(status) => i32::from(status.code()) == NOT_FOUND,
        Error::LeaseKeepAliveError(message) => message.contains("not found"),
        _ => false,
    }
}

/// What one keep-alive round found out.
enum Round {
    /// The server renewed the lease for this TTL.
    Renewed(Duration),
    /// The server no longer has the lease.
    Gone,
    /// No answer; try again.
    Failed,
}

/// Renews the lease every TTL/3 until aborted, and marks it lost when the
/// deadline passes without a renewal or the server says it is gone.
async fn keep_alive(client: Client, id: i64, ttl: Duration, state: Arc<LeaseState>) {
    let interval = ttl / 3;
    let mut stream = None;
    let mut next = Instant::now() + interval;
    let mut backoff = Backoff::new();
    loop {
        let deadline = state.deadline();
        tokio::time::sleep_until(next.min(deadline).into()).await;
        // After a stop (SIGSTOP) both instants may be long past: the deadline wins.
        if Instant::now() >= deadline {
            break;
        }
        let sent = Instant::now();
        let round = tokio::time::timeout_at(deadline.into(), renew(&client, id, ttl, &mut stream));
        match round.await {
            Ok(Round::Renewed(granted)) => {
                state.extend_to(lost_after(sent, granted));
                next = sent + interval;
                backoff = Backoff::new();
            }
            Ok(Round::Failed) => {
                stream = None;
                next = Instant::now() + backoff.next().min(interval);
            }
            Ok(Round::Gone) | Err(_) => break,
        }
    }
    state.mark_lost();
}

/// One keep-alive: on the open stream, or opening one (which sends the first).
async fn renew(
    client: &Client,
    id: i64,
    ttl: Duration,
    stream: &mut Option<(LeaseKeeper, LeaseKeepAliveStream)>,
) -> Round {
    let Some((keeper, responses)) = stream else {
        return match client.clone().lease_keep_alive(id).await {
            // Opening sent a keep-alive and checked its answer (TTL > 0), which
            // renews to the granted TTL.
            Ok(opened) => {
                *stream = Some(opened);
                Round::Renewed(ttl)
            }
            Err(err) if is_lease_not_found(&err) => Round::Gone,
            Err(_) => Round::Failed,
        };
    };
    if keeper.keep_alive().await.is_err() {
        return Round::Failed;
    }
    match responses.message().await {
        Ok(Some(renewed)) if renewed.ttl() > 0 => Round::Renewed(Duration::from_secs(
            u64::try_from(renewed.ttl()).unwrap_or(1),
        )),
        Ok(Some(_)) => Round::Gone,
        Ok(None) | Err(_) => Round::Failed,
    }
}

/// Marks the lease lost when the held key is deleted (revoke, expiry, `del`).
async fn watch_key(
    client: Client,
    key: String,
    create_revision: i64,
    mut seen: i64,
    state: Arc<LeaseState>,
) {
    use etcd_client::{EventType, WatchFilterType, WatchOptions};
    let mut backoff = Backoff::new();
    loop {
        let options = WatchOptions::new()
            .with_start_revision(seen + 1)
            .with_filters([WatchFilterType::NoPut]);
        if let Ok(mut watch) = client.clone().watch(key.as_str(), Some(options)).await {
            // Events after `seen` only: a delete is one of ours being lost.
            while let Ok(Some(response)) = watch.message().await {
                if response
                    .events()
                    .iter()
                    .any(|e| e.event_type() == EventType::Delete)
                {
                    state.mark_lost();
                    return;
                }
                if response.canceled() {
                    break;
                }
            }
        }
        // The watch ended (member down, compaction, no leader): look at the
        // key itself, then watch again from there.
        tokio::time::sleep(backoff.next().min(MAX_BACKOFF)).await;
        // Unanswered: the next round tries again (the keep-alives and their
        // deadline cover the lease meanwhile).
        let Ok(read) = client.clone().get(key.as_str(), None).await else {
            continue;
        };
        let ours = read
            .kvs()
            .first()
            .map(etcd_client::KeyValue::create_revision)
            == Some(create_revision);
        if !ours {
            state.mark_lost();
            return;
        }
        if let Some(header) = read.header() {
            seen = header.revision();
        }
        backoff = Backoff::new();
    }
}
