//! The etcd lock against a real 3-member cluster shared by these tests, with
//! holders in processes of their own that are killed, frozen and raced.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use scoped_lockfile::{Backend, LockError, LockOptions};
use scoped_lockfile_etcd::{EtcdOptions, EtcdProbe, LeaseLost};
use support::{Helper, PATIENCE, SHORT_TTL, cluster, connect, default_content, field, unique_name};

fn one_try() -> LockOptions {
    LockOptions::new().timeout(Duration::ZERO)
}

#[test]
fn one_try_fails_contended_naming_the_holder_by_pid_and_host() {
    let cluster = cluster();
    let name = unique_name("contended");
    let (holder, _) = Helper::holding(cluster, &name, &[]);
    let etcd = connect(cluster, EtcdOptions::new());
    match etcd.lock(&name, &one_try()) {
        Err(LockError::Contended { path, holder: who }) => {
            assert_eq!(path.to_str(), Some(name.as_str()));
            // The default template, `{pid}`, is qualified with the host on etcd.
            assert_eq!(who.content, Some(default_content(holder.pid())));
            assert_eq!(who.pid(), Some(holder.pid()));
            assert_eq!(who.is_this_host(), Some(true));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
}

#[test]
fn the_content_template_is_what_the_key_says() {
    let cluster = cluster();
    let name = unique_name("template");
    let (_holder, _) = Helper::holding(cluster, &name, &["template=deploy {pid} on {hostname}"]);
    let etcd = connect(cluster, EtcdOptions::new());
    let Ok(EtcdProbe::Held { holder, .. }) = etcd.probe(&name) else {
        panic!("expected the lock held")
    };
    let who = holder.content.expect("a holder");
    assert!(who.starts_with("deploy ") && who.contains(" on "), "{who}");
}

#[test]
fn an_invalid_template_fails_before_anything_is_sent() {
    let cluster = cluster();
    let name = unique_name("bad-template");
    let etcd = connect(cluster, EtcdOptions::new());
    let err = etcd
        .lock(&name, &LockOptions::new().content_template("{nope}"))
        .unwrap_err();
    assert!(matches!(err, LockError::InvalidTemplate { .. }), "{err:?}");
    assert_eq!(etcd.probe(&name).unwrap(), EtcdProbe::Free);
}

#[test]
fn a_timeout_names_the_holder_and_leaves_the_queue() {
    let cluster = cluster();
    let name = unique_name("timeout");
    let (mut holder, _) = Helper::holding(cluster, &name, &["template=the-holder"]);
    let etcd = connect(cluster, EtcdOptions::new());
    let timeout = Duration::from_millis(300);
    match etcd.lock(&name, &LockOptions::new().timeout(timeout)) {
        Err(LockError::Timeout {
            holder: who,
            timeout: asked,
            waited,
            ..
        }) => {
            assert_eq!(who.content.as_deref(), Some("the-holder"));
            assert_eq!(asked, timeout);
            assert!(waited >= timeout && waited < PATIENCE, "{waited:?}");
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // Our place in the queue went with the error: once the holder lets go,
    // the lock is free, not held by a waiter that gave up.
    holder.release();
    holder.expect("RELEASED", PATIENCE);
    assert_eq!(etcd.probe(&name).unwrap(), EtcdProbe::Free);
    etcd.lock(&name, &one_try())
        .expect("free after the release");
}

#[test]
fn waiters_get_the_lock_in_turn_with_growing_fencing_tokens() {
    let cluster = cluster();
    let name = unique_name("turns");
    let (mut first, first_token) = Helper::holding(cluster, &name, &[]);
    let etcd = connect(cluster, EtcdOptions::new());
    // Queued one after the other: the queue's order is the order of arrival.
    let mut second = Helper::spawn("hold", cluster, &name, &[]);
    wait_for_waiters(&etcd, &name, 1);
    let mut third = Helper::spawn("hold", cluster, &name, &["async"]);
    wait_for_waiters(&etcd, &name, 2);
    first.release();
    first.expect("RELEASED", PATIENCE);
    let second_token = field(&second.expect("HELD", PATIENCE), "token");
    second.release();
    let third_token = field(&third.expect("HELD", PATIENCE), "token");
    third.release();
    third.expect("RELEASED", PATIENCE);
    assert!(first_token < second_token && second_token < third_token);
    let mine = etcd.lock(&name, &one_try()).unwrap();
    assert!(mine.fencing_token() > third_token);
}

#[test]
fn processes_counting_under_the_lock_lose_no_update() {
    const PROCESSES: usize = 4;
    const TIMES: u64 = 40;
    let cluster = cluster();
    let name = unique_name("count");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("count");
    let file_arg = file.to_str().unwrap();
    let times = TIMES.to_string();
    let mut counters: Vec<Helper> = (0..PROCESSES)
        .map(|_| Helper::spawn("count", cluster, &name, &[file_arg, &times]))
        .collect();
    for counter in &mut counters {
        // A FENCE-VIOLATION line (a token not above the last one) fails here.
        counter.expect("DONE", PATIENCE * 2);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let count: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(count, PROCESSES as u64 * TIMES);
}

#[test]
fn a_killed_holder_is_replaced_within_its_ttl() {
    let cluster = cluster();
    let name = unique_name("killed");
    let ttl = SHORT_TTL.as_secs().to_string();
    let (holder, token) = Helper::holding(cluster, &name, &[&format!("ttl={ttl}")]);
    let mut waiter = Helper::spawn("hold", cluster, &name, &[]);
    assert!(waiter.is_silent_for(Duration::from_millis(200)));
    let killed = Instant::now();
    holder.signal(Signal::KILL);
    let line = waiter.expect("HELD", PATIENCE);
    let took = killed.elapsed();
    assert!(took < SHORT_TTL + Duration::from_secs(1), "took {took:?}");
    assert!(field(&line, "token") > token);
}

#[test]
fn a_stopped_holder_loses_the_lock_and_learns_it_when_resumed() {
    let cluster = cluster();
    let name = unique_name("stopped");
    let ttl = format!("ttl={}", SHORT_TTL.as_secs());
    let (mut frozen, frozen_token) = Helper::holding(cluster, &name, &[&ttl]);
    frozen.signal(Signal::STOP);
    let stopped = Instant::now();
    let mut next = Helper::spawn("hold", cluster, &name, &[]);
    let next_token = field(&next.expect("HELD", PATIENCE), "token");
    assert!(stopped.elapsed() < SHORT_TTL + Duration::from_secs(1));
    assert!(next_token > frozen_token);
    // Resumed, it finds its deadline long past and says so at once, without
    // waiting for an answer from etcd.
    frozen.signal(Signal::CONT);
    frozen.expect("LOST", Duration::from_secs(5));
    assert_eq!(frozen.exit_status(PATIENCE).code(), Some(3));
    // The new holder was never disturbed.
    next.release();
    next.expect("RELEASED", PATIENCE);
}

#[test]
fn a_deleted_key_makes_the_guard_lost() {
    let cluster = cluster();
    let name = unique_name("deleted");
    let etcd = connect(cluster, EtcdOptions::new());
    let guard = etcd.lock(&name, &LockOptions::new()).unwrap();
    assert!(!guard.is_lost());
    let deleted = etcdctl(cluster)
        .args(["del", guard.key()])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{deleted:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async { tokio::time::timeout(PATIENCE, guard.lost()).await })
        .expect("lost() completes");
    assert!(guard.is_lost());
    let err = guard.close().unwrap_err();
    assert!(is_lease_lost(&err), "{err:?}");
}

#[test]
fn dropping_the_guard_releases_at_once() {
    let cluster = cluster();
    let name = unique_name("drop");
    let etcd = connect(cluster, EtcdOptions::new());
    let other = connect(cluster, EtcdOptions::new());
    let guard = etcd.lock(&name, &one_try()).unwrap();
    assert!(matches!(
        other.lock(&name, &one_try()),
        Err(LockError::Contended { .. })
    ));
    drop(guard);
    other.lock(&name, &one_try()).expect("free once dropped");
}

#[test]
fn a_cancelled_async_wait_leaves_the_queue() {
    let cluster = cluster();
    let name = unique_name("cancelled");
    let (mut holder, _) = Helper::holding(cluster, &name, &[]);
    let etcd = connect(cluster, EtcdOptions::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let waited = runtime.block_on(async {
        let wait = etcd.lock_async(&name, &LockOptions::new());
        tokio::time::timeout(Duration::from_millis(300), wait).await
    });
    assert!(waited.is_err(), "the wait should have been cancelled");
    holder.release();
    holder.expect("RELEASED", PATIENCE);
    // The cancelled waiter's key is revoked in the background, long before its
    // lease (10 s) would expire.
    let deadline = Instant::now() + Duration::from_secs(5);
    while etcd.probe(&name).unwrap() != EtcdProbe::Free {
        assert!(
            Instant::now() < deadline,
            "the cancelled waiter stayed queued"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn async_lock_and_close_on_a_tokio_runtime() {
    let cluster = cluster();
    let name = unique_name("async");
    let etcd = connect(cluster, EtcdOptions::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let guard = etcd.lock_async(&name, &LockOptions::new()).await.unwrap();
        let waiter = tokio::spawn(etcd.lock_async(&name, &LockOptions::new()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished());
        let token = guard.fencing_token();
        guard.close_async().await.unwrap();
        let next = waiter.await.unwrap().unwrap();
        assert!(next.fencing_token() > token);
        // Dropped inside the runtime: released by the background thread.
        drop(next);
    });
    let deadline = Instant::now() + PATIENCE;
    while etcd.probe(&name).unwrap() != EtcdProbe::Free {
        assert!(
            Instant::now() < deadline,
            "the guard dropped in async code was not released"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn etcdctl_lock_and_ours_exclude_each_other() {
    let cluster = cluster();
    let name = unique_name("etcdctl");
    let etcd = connect(cluster, EtcdOptions::new());
    // Ours first: etcdctl waits for it.
    let guard = etcd.lock(&name, &LockOptions::new()).unwrap();
    let mut etcdctl_lock = etcdctl(cluster)
        .args(["lock", &name, "--", "echo", "etcdctl-got-it"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        etcdctl_lock.try_wait().unwrap().is_none(),
        "etcdctl did not wait"
    );
    guard.close().unwrap();
    let output = etcdctl_lock.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("etcdctl-got-it"));
    // etcdctl first: ours is contended, by a holder that says nothing.
    let mut etcdctl_lock = etcdctl(cluster)
        .args(["lock", &name, "--", "sh", "-c", "echo held; sleep 2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(etcdctl_lock.stdout.as_mut().unwrap()),
        &mut said,
    )
    .unwrap();
    assert_eq!(said.trim(), "held");
    match etcd.lock(&name, &one_try()) {
        Err(LockError::Contended { holder, .. }) => assert_eq!(holder.content, None),
        other => panic!("expected Contended, got {other:?}"),
    }
    let started = Instant::now();
    let guard = etcd.lock(&name, &LockOptions::new()).unwrap();
    assert!(started.elapsed() < PATIENCE);
    assert!(etcdctl_lock.wait().unwrap().success());
    drop(guard);
}

#[test]
fn probe_says_who_holds_and_how_many_wait() {
    let cluster = cluster();
    let name = unique_name("probe");
    let etcd = connect(cluster, EtcdOptions::new());
    assert_eq!(etcd.probe(&name).unwrap(), EtcdProbe::Free);
    let guard = etcd
        .lock(&name, &LockOptions::new().content_template("prober"))
        .unwrap();
    let mut waiter = Helper::spawn("hold", cluster, &name, &[]);
    wait_for_waiters(&etcd, &name, 1);
    let expected = EtcdProbe::Held {
        holder: scoped_lockfile::Holder::new(Some("prober".into())),
        fencing_token: guard.fencing_token(),
        waiting: 1,
    };
    assert_eq!(etcd.probe(&name).unwrap(), expected);
    drop(guard);
    waiter.expect("HELD", PATIENCE);
}

#[test]
fn a_prefix_keeps_locks_apart() {
    let cluster = cluster();
    let name = unique_name("prefix");
    let plain = connect(cluster, EtcdOptions::new());
    let prefixed = connect(cluster, EtcdOptions::new().prefix("app-a/"));
    let a = prefixed.lock(&name, &one_try()).unwrap();
    assert!(a.key().starts_with(&format!("app-a/{name}/")));
    let b = plain.lock(&name, &one_try()).expect("another lock");
    drop((a, b));
}

/// Waits until `waiting` others queue behind the holder of `name`.
fn wait_for_waiters(etcd: &scoped_lockfile_etcd::EtcdLocks, name: &str, waiting: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = etcd.probe(name).unwrap();
        if matches!(seen, EtcdProbe::Held { waiting: w, .. } if w == waiting) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {waiting} waiting, last saw {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `err` says a lease was lost.
fn is_lease_lost(err: &LockError) -> bool {
    match err {
        LockError::Unavailable { source, .. } => source.downcast_ref::<LeaseLost>().is_some(),
        _ => false,
    }
}

/// `etcdctl` (v3 API) talking to `cluster`.
fn etcdctl(cluster: &etcd_test_cluster::Cluster) -> Command {
    let mut command = Command::new("etcdctl");
    command
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(cluster.endpoints_arg());
    command
}
