//! Taking a lock: etcd's own recipe (`clientv3/concurrency.Mutex`, what
//! `etcdctl lock` runs), on plain KV, lease and watch requests.
//!
//! Every contender puts a key `NAME/<lease id in hex>` under its lease; the
//! keys' create revisions order them, and the holder is the oldest. A waiter
//! watches only the key just before its own, so a release wakes one waiter,
//! not all of them. The holder's create revision is its fencing token: etcd's
//! revision counter only grows, so a later holder always has a larger one.
//!
//! Not etcd's server-side Lock RPC: on etcd 3.4 it can answer success with a
//! key whose lease expired while it waited (seen in the spike); here a waiter
//! checks that its key is still there, with its revision, before it says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, Error, EventType, GetOptions, KeyValue, PutOptions, SortOrder,
    SortTarget, Txn, TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
};
use scoped_lockfile::{Holder, LockError};

use crate::errors::{LeaseLost, contended, holder_of, timed_out, unavailable};
use crate::guard::EtcdGuard;
use crate::lease::Lease;
use crate::locks::Shared;
use crate::retry::{Backoff, is_transient, retry_until};

/// What the caller asked for, read from its `LockOptions`.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `None`: wait forever; zero: one try.
    pub(crate) wait: Option<Duration>,
    /// The rendered content template: what the key says about its holder.
    pub(crate) content: String,
}

/// Takes the lock `name` as `request` says; runs on the background runtime.
pub(crate) async fn acquire(
    shared: Arc<Shared>,
    name: String,
    request: Request,
) -> Result<EtcdGuard, LockError> {
    let started = Instant::now();
    // A timeout too large to add to now is forever, as for file locks.
    let deadline = request.wait.and_then(|wait| started.checked_add(wait));
    let retry = retry_limit(&shared, started, request.wait, deadline);
    let lease = Lease::grant(&shared, Some(retry))
        .await
        .map_err(|err| unavailable(&name, err))?;
    let queue = format!("{}{name}/", shared.options.key_prefix());
    let key = format!("{queue}{:x}", lease.id);

    let client = &shared.client;
    let entered = retry_until(Some(retry), || {
        enqueue(client, &queue, &key, &request.content, lease.id)
    })
    .await
    .map_err(|err| unavailable(&name, err))?;
    let ours = entered.token;
    let mut seen = entered.revision;
    let cluster_id = entered.cluster_id;

    match entered.first {
        Some(first) if first.create_revision() != ours => {
            let holder = holder_of(first.value());
            if request.wait == Some(Duration::ZERO) {
                // Leave the queue before saying so: our key would stand in the
                // next waiter's way until our lease expired.
                let _ = lease.revoke().await;
                return Err(contended(&name, holder));
            }
            let mut trouble = None;
            let waited = tokio::select! {
                turn = wait_turn(client, &queue, &key, ours, &mut trouble) => turn,
                () = lease.state.lost() => Err(Lost),
                () = sleep_until(deadline) => Err(Lost),
            };
            match waited {
                Ok(Turn::Ours { revision }) => seen = revision,
                // Our key went while we waited (lease expired, key deleted):
                // the lock we would now report is not ours.
                Ok(Turn::Gone) => return Err(unavailable(&name, LeaseLost::new(&name))),
                Err(Lost) => {
                    return Err(give_up(&shared, &name, lease, &request, started, trouble).await);
                }
            }
        }
        // Empty queue (never after our put, but harmless) or ours first.
        _ => {}
    }
    if lease.state.is_lost() {
        // Requests repeated through a long outage can outlast the lease: a
        // lock whose lease may be gone is not reported as taken.
        return Err(unavailable(&name, LeaseLost::new(&name)));
    }
    let mut lease = lease;
    lease.watch_key(key.clone(), ours, seen);
    Ok(EtcdGuard::new(shared, name, key, ours, cluster_id, lease))
}

/// Until when failed requests are repeated: the caller's deadline, and no
/// longer than the TTL (a lease could not outlive that silence anyway); one
/// try gets one request timeout.
fn retry_limit(
    shared: &Shared,
    started: Instant,
    wait: Option<Duration>,
    deadline: Option<Instant>,
) -> Instant {
    if wait == Some(Duration::ZERO) {
        return started + shared.options.get_request_timeout();
    }
    let ttl_limit = started + Duration::from_secs(shared.options.ttl_seconds().unsigned_abs());
    deadline.map_or(ttl_limit, |deadline| deadline.min(ttl_limit))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// The wait ended without the lock: timeout, lease lost, or etcd gone.
struct Lost;

/// Leaves the queue and says why the wait failed: a timeout names the holder;
/// a lease lost, or a timeout while etcd did not answer, is `Unavailable`.
async fn give_up(
    shared: &Shared,
    name: &str,
    lease: Lease,
    request: &Request,
    started: Instant,
    trouble: Option<Error>,
) -> LockError {
    let lost = lease.state.is_lost();
    let _ = lease.revoke().await;
    if let Some(err) = trouble {
        return unavailable(name, err);
    }
    if lost {
        return unavailable(name, LeaseLost::new(name));
    }
    let queue = format!("{}{name}/", shared.options.key_prefix());
    let holder = match first_in(&shared.client, &queue).await {
        Ok(Some(first)) => holder_of(first.value()),
        // Released meanwhile, or unreadable: nobody to name.
        Ok(None) | Err(_) => Holder::new(None),
    };
    let timeout = request.wait.unwrap_or(Duration::MAX);
    timed_out(name, timeout, started.elapsed(), holder)
}

/// What the enqueue transaction found.
struct Entered {
    /// Our key's create revision: our place in the queue, our fencing token.
    token: i64,
    /// The oldest key in the queue, ours or not.
    first: Option<KeyValue>,
    /// The store revision the transaction saw.
    revision: i64,
    cluster_id: u64,
}

/// Puts our key if it is not there yet (so a repeat after a lost answer is
/// harmless) and reads the oldest key of the queue, in one transaction.
async fn enqueue(
    client: &Client,
    queue: &str,
    key: &str,
    content: &str,
    lease: i64,
) -> Result<Entered, Error> {
    let oldest = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let txn = Txn::new()
        .when([Compare::create_revision(key, CompareOp::Equal, 0)])
        .and_then([
            TxnOp::put(key, content, Some(PutOptions::new().with_lease(lease))),
            TxnOp::get(queue, Some(oldest.clone())),
        ])
        .or_else([TxnOp::get(key, None), TxnOp::get(queue, Some(oldest))]);
    let response = client.clone().txn(txn).await?;
    let header = response.header().ok_or_else(|| {
        Error::InvalidArgs("etcd sent a transaction answer without a header".into())
    })?;
    let (revision, cluster_id) = (header.revision(), header.cluster_id());
    let mut reads = response
        .op_responses()
        .into_iter()
        .filter_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get),
            _ => None,
        });
    let token = if response.succeeded() {
        // The put is the transaction's only write: its revision is the key's.
        revision
    } else {
        let own = reads.next().and_then(|get| get.kvs().first().cloned());
        own.map(|kv| kv.create_revision())
            .ok_or_else(|| Error::InvalidArgs("our queue key vanished during enqueue".into()))?
    };
    let first = reads.next().and_then(|get| get.kvs().first().cloned());
    Ok(Entered {
        token,
        first,
        revision,
        cluster_id,
    })
}

/// The oldest key under `queue`: the holder.
pub(crate) async fn first_in(client: &Client, queue: &str) -> Result<Option<KeyValue>, Error> {
    let oldest = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend)
        .with_limit(1);
    let read = client.clone().get(queue, Some(oldest)).await?;
    Ok(read.kvs().first().cloned())
}

/// How a wait for our turn ended.
enum Turn {
    /// No older key is left and ours is still there, with our create
    /// revision, at this store revision: we hold the lock.
    Ours { revision: i64 },
    /// Our own key is gone (its lease expired, or it was deleted).
    Gone,
}

/// Waits until no key older than ours is left in the queue. Failed requests
/// are repeated without end: the caller bounds the wait by its deadline and by
/// the lease, and learns from `trouble` why it was stuck.
async fn wait_turn(
    client: &Client,
    queue: &str,
    key: &str,
    ours: i64,
    trouble: &mut Option<Error>,
) -> Result<Turn, Lost> {
    let mut backoff = Backoff::new();
    loop {
        match wait_for_predecessor(client, queue, key, ours).await {
            Ok(Some(turn)) => return Ok(turn),
            Ok(None) => {
                // A request got through: older trouble no longer explains a timeout.
                *trouble = None;
                backoff = Backoff::new();
            }
            Err(err) if is_transient(&err) => {
                *trouble = Some(err);
                tokio::time::sleep(backoff.next()).await;
            }
            Err(err) => {
                *trouble = Some(err);
                return Err(Lost);
            }
        }
    }
}

/// Reads the newest key older than ours, and our own key, in one transaction
/// (so that the turn we report is our key's, not an expired one's: the check
/// etcd 3.4's Lock RPC lacks, at no extra round trip). Then waits for that
/// predecessor to be deleted. `Ok(None)`: it went, look again.
async fn wait_for_predecessor(
    client: &Client,
    queue: &str,
    key: &str,
    ours: i64,
) -> Result<Option<Turn>, Error> {
    let newest_older = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Descend)
        .with_max_create_revision(ours - 1)
        .with_limit(1);
    // No comparisons: the success branch always runs.
    let reads = Txn::new().and_then([TxnOp::get(queue, Some(newest_older)), TxnOp::get(key, None)]);
    let response = client.clone().txn(reads).await?;
    let revision = response
        .header()
        .map_or(0, etcd_client::ResponseHeader::revision);
    let mut gets = response
        .op_responses()
        .into_iter()
        .filter_map(|op| match op {
            TxnOpResponse::Get(get) => Some(get),
            _ => None,
        });
    let predecessor = gets.next().and_then(|get| get.kvs().first().cloned());
    let own = gets.next().and_then(|get| get.kvs().first().cloned());
    if own.map(|kv| kv.create_revision()) != Some(ours) {
        return Ok(Some(Turn::Gone));
    }
    let Some(predecessor) = predecessor else {
        return Ok(Some(Turn::Ours { revision }));
    };
    // From the revision read, so a delete in between is still seen.
    let options = WatchOptions::new()
        .with_start_revision(revision + 1)
        .with_filters([WatchFilterType::NoPut]);
    let mut watch = client
        .clone()
        .watch(predecessor.key(), Some(options))
        .await?;
    while let Some(response) = watch.message().await? {
        if response
            .events()
            .iter()
            .any(|e| e.event_type() == EventType::Delete)
            || response.canceled()
        {
            // Deleted, or the watch was cancelled (compaction, no leader): read again.
            return Ok(None);
        }
    }
    Ok(None)
}
