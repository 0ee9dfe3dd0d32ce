//! The timer thread of async waits exits as soon as nothing waits: a deadline
//! leaves with its wait, not when it would have expired. Its own test binary,
//! with one test, so no other test's threads are counted.
//!
//! Linux only: threads are counted and named in `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use scoped_lockfile::LockOptions;
use support::{Holder, settle_to, thread_count};

/// Threads of ours (`lockfile-timer`, `lockfile-wait`) alive in this process.
fn our_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("lockfile-"))
        .collect()
}

#[test]
fn no_thread_of_ours_outlives_an_async_wait_with_a_long_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let hour = LockOptions::new().timeout(Duration::from_secs(3600));

    // Succeeds after waiting: the deadline an hour away must not keep the timer.
    let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
    let before = thread_count();
    let waiting = runtime.spawn(hour.lock_async(&path));
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    assert!(our_threads().contains(&"lockfile-timer".to_owned()));
    holder.release();
    let lock = runtime.block_on(waiting).unwrap().unwrap();
    // The holder's output reader has ended with the holder.
    assert_eq!(settle_to(before - 1), before - 1, "{:?}", our_threads());
    assert_eq!(our_threads(), Vec::<String>::new());
    lock.close().unwrap();

    // Cancelled while waiting: the timer goes at once; the helper, blocked in
    // the kernel, goes once the lock is released.
    let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
    let before = thread_count();
    let cancelled = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(100), hour.lock_async(&path)).await
    });
    assert!(cancelled.is_err(), "got a held lock");
    assert_eq!(settle_to(before + 1), before + 1, "{:?}", our_threads());
    assert_eq!(our_threads(), vec!["lockfile-wait".to_owned()]);
    holder.release();
    assert_eq!(settle_to(before - 1), before - 1, "{:?}", our_threads());
    assert_eq!(our_threads(), Vec::<String>::new());
}
