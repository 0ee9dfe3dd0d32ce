//! Timed waits leave at most one helper thread per lock file (semantic 10),
//! however its path is spelled.
//!
//! Its own test binary, with one test, so no other test's threads are counted.
//!
//! Linux only: threads are counted in `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use scoped_lockfile::{LockError, LockedContext};
use support::{Holder, thread_count};

#[test]
fn a_hundred_timeouts_leave_one_helper_which_exits_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    // The holder's output reader is one thread of ours; count from here.
    let before = thread_count();
    // Many spellings of one file: `.`, `..`, a symlinked directory; one helper.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let via_link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &via_link).unwrap();
    let spellings = [
        name.clone(),
        dir.path().join(".").join("job"),
        sub.join("..").join("job"),
        via_link.join("job"),
    ];
    for attempt in 0..100 {
        let name = &spellings[attempt % spellings.len()];
        let err = LockedContext::with_timeout(name, Duration::from_millis(5)).unwrap_err();
        assert!(
            matches!(err, LockError::Timeout { .. }),
            "attempt {attempt}: {err:?}"
        );
    }
    let during = thread_count();
    assert!(
        during <= before + 1,
        "{before} threads before, {during} after 100 timeouts under 4 spellings"
    );

    // A zero timeout is one try: no thread at all.
    let started = thread_count();
    let err = LockedContext::with_timeout(&name, Duration::ZERO).unwrap_err();
    assert!(matches!(err, LockError::Contended { .. }), "{err:?}");
    assert_eq!(thread_count(), started);

    holder.release();
    // The blocked helper gets the lock, finds nobody waiting, drops it and exits;
    // the holder's output reader ends with the holder.
    let settled = before - 1;
    assert_eq!(
        support::settle_to(settled),
        settled,
        "the helper thread did not exit"
    );
    drop(LockedContext::with_timeout(&name, Duration::ZERO).unwrap());
}
