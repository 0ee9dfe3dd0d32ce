//! Fair timed and async waits leave at most one helper thread per lock file
//! (semantic 10), as the default mode's do, also while another process's fair
//! waiter is queued ahead of them.
//!
//! Its own test binary, with one test, so no other test's threads are counted.
//!
//! Linux only: fair mode, and threads are counted in `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use scoped_lockfile::{LockError, LockOptions};
use support::{Holder, thread_count};

#[test]
fn a_hundred_fair_timeouts_leave_one_helper_which_exits_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let p = path.to_str().unwrap();
    let holder = Holder::locked(&["lock", p]);
    // A fair waiter of another process, queued ahead of all of ours.
    let mut ahead = Holder::spawn(&["lock", p, "--fair", "--wait", "forever"]);
    // Queued once the ticket counter has moved.
    let counter = || {
        std::fs::read(format!("{p}.queue"))
            .ok()
            .and_then(|queue| Some(u64::from_le_bytes(queue.get(..8)?.try_into().ok()?)))
    };
    while counter().unwrap_or(0) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The holders' output readers are threads of ours; count from here.
    let before = thread_count();
    let fair = LockOptions::new().fair().timeout(Duration::from_millis(5));
    for attempt in 0..100 {
        let err = fair.lock(&path).unwrap_err();
        assert!(
            matches!(err, LockError::Timeout { .. }),
            "attempt {attempt}: {err:?}"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for attempt in 0..50 {
        let err = runtime.block_on(fair.lock_async(&path)).unwrap_err();
        assert!(
            matches!(err, LockError::Timeout { .. }),
            "async attempt {attempt}: {err:?}"
        );
    }
    let during = thread_count();
    // One fair helper; the async deadlines' timer thread exits when idle.
    assert!(
        support::settle_to(before + 1) <= before + 1,
        "{before} threads before, {during} after 150 fair timeouts"
    );

    holder.release();
    assert_eq!(
        ahead.next_line(Duration::from_secs(30)).as_deref(),
        Some("locked")
    );
    ahead.release();
    // Our helper waits for its turn behind `ahead`, then for the lock, finds
    // nobody waiting, lets the lock go and exits; both output readers end.
    let settled = before - 2;
    assert_eq!(
        support::settle_to(settled),
        settled,
        "the fair helper thread did not exit"
    );
    drop(LockOptions::new().fair().lock(&path).unwrap());
}
