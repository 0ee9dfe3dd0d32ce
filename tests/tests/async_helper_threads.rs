//! Cancelled async acquisitions leave no more than one helper thread. Its own
//! test binary, with one test, so no other test's threads are counted.
//!
//! Linux only: threads are counted in `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use scoped_lockfile::LockOptions;
use support::{Holder, thread_count};

#[test]
fn a_hundred_cancelled_acquisitions_leave_one_helper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.lock");
    let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
    // Current-thread: the runtime adds no threads of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before = thread_count();
    for _ in 0..100 {
        let attempt = LockOptions::new().lock_async(&path);
        let cancelled = runtime
            .block_on(async { tokio::time::timeout(Duration::from_millis(2), attempt).await });
        assert!(cancelled.is_err(), "got a held lock");
    }
    let during = thread_count();
    println!("COUNT async/threads: {before} before, {during} after 100 cancelled acquisitions");
    assert!(
        during <= before + 1,
        "{before} threads before, {during} after 100 cancellations"
    );
    holder.release();
    // The helper gets the lock, finds no one waiting, lets go and exits; the
    // holder's output reader ends with the holder.
    let settled = before - 1;
    assert_eq!(
        support::settle_to(settled),
        settled,
        "a helper thread stayed behind"
    );
}
