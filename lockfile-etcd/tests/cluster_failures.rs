//! The etcd lock while the cluster itself fails: each test has a 3-member
//! cluster of its own to kill.

mod support;

use std::time::{Duration, Instant};

use scoped_lockfile::{Backend, LockError, LockOptions};
use scoped_lockfile_etcd::{EtcdOptions, EtcdProbe};
use support::{Helper, PATIENCE, SHORT_TTL, connect, field, own_cluster, unique_name};

#[test]
fn a_lock_held_through_a_leader_kill_stays_held_and_hands_over() {
    let mut cluster = own_cluster();
    let name = unique_name("leader-kill");
    // Room for an election and a retried keep-alive inside the TTL: at 2 s
    // a loaded machine (a CI build beside it) lost the lease now and then.
    let renewed_ttl = Duration::from_secs(5);
    let ttl = format!("ttl={}", renewed_ttl.as_secs());
    let (mut holder, token) = Helper::holding(&cluster, &name, &[&ttl]);
    let mut waiter = Helper::spawn("hold", &cluster, &name, &[]);
    let leader = cluster.wait_for_leader(PATIENCE).expect("a leader");
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(PATIENCE).expect("a new leader");
    assert_ne!(new_leader, leader);
    // Longer than the TTL: the holder's keep-alives reach the new leader, so
    // it neither loses the lock nor hands it on.
    assert!(holder.is_silent_for(renewed_ttl + Duration::from_secs(1)));
    assert!(waiter.is_silent_for(Duration::ZERO));
    let etcd = connect(&cluster, EtcdOptions::new());
    match etcd.probe(&name).unwrap() {
        EtcdProbe::Held { fencing_token, .. } => assert_eq!(fencing_token, token),
        other => panic!("expected the lock still held, got {other:?}"),
    }
    // Hand-overs go on under the new leader.
    holder.release();
    holder.expect("RELEASED", PATIENCE);
    let next = field(&waiter.expect("HELD", PATIENCE), "token");
    assert!(next > token);
    waiter.release();
    waiter.expect("RELEASED", PATIENCE);
    let mine = etcd
        .lock(&name, &LockOptions::new().timeout(Duration::ZERO))
        .unwrap();
    assert!(mine.fencing_token() > next);
}

#[test]
fn with_every_member_down_locks_fail_clearly_within_their_timeout() {
    let mut cluster = own_cluster();
    let name = unique_name("all-down");
    let etcd = connect(&cluster, EtcdOptions::new().ttl(SHORT_TTL));
    let held = etcd.lock(&name, &LockOptions::new()).unwrap();
    cluster.kill_all();

    // The holder learns it may have lost the lock before the TTL is over.
    let killed = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(PATIENCE, held.lost())
            .await
            .expect("lost");
    });
    assert!(
        killed.elapsed() < SHORT_TTL,
        "lost after {:?}",
        killed.elapsed()
    );
    assert!(held.is_lost());

    for (wait, bound) in [
        // One try: one request timeout (2 s) of retries.
        (Some(Duration::ZERO), Duration::from_secs(5)),
        (Some(Duration::from_secs(1)), Duration::from_secs(3)),
        // Waiting forever: the retries end with the TTL.
        (None, SHORT_TTL + Duration::from_secs(3)),
    ] {
        let options = match wait {
            Some(timeout) => LockOptions::new().timeout(timeout),
            None => LockOptions::new(),
        };
        let started = Instant::now();
        let err = etcd.lock(&name, &options).unwrap_err();
        let took = started.elapsed();
        eprintln!("all members down, wait {wait:?}: {err} (after {took:?})");
        assert!(took < bound, "{wait:?}: took {took:?}");
        assert!(is_unavailable(&err), "{wait:?}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(&name), "{message}");
    }
    drop(held);
}

/// Whether `err` says etcd could not be asked.
fn is_unavailable(err: &LockError) -> bool {
    matches!(err, LockError::Unavailable { .. })
}
