//! A child forked without `exec` shares the parent's lock; dropping or closing
//! its copy must leave the parent's lock held (semantic 6: release by closing,
//! never by `flock(LOCK_UN)`). And a child forked after its parent waited has
//! waits of its own that end (semantic 10): the parent's helper and timer
//! threads are not the child's.
//!
//! Unix only: Windows has no `fork`.
#![cfg(unix)]

mod support;

use support::{Holder, PATIENCE, try_lock_elsewhere};

fn child_lets_go(how: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let mut parent = Holder::locked(&["fork", path.to_str().unwrap(), how]);
    parent.expect_line("child 0");
    // The child let go of its copy; the parent still holds the lock.
    let out = try_lock_elsewhere(&path);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{how}: a forked child released its parent's lock: {out:?}"
    );
    parent.release();
    assert!(try_lock_elsewhere(&path).status.success());
}

#[test]
fn a_forked_child_dropping_its_copy_leaves_the_parent_s_lock_held() {
    child_lets_go("drop");
}

#[test]
fn a_forked_child_closing_its_copy_leaves_the_parent_s_lock_held() {
    child_lets_go("close");
}

#[test]
fn a_child_forked_after_its_parent_waited_gets_its_own_waits_served() {
    let dir = tempfile::tempdir().unwrap();
    let (path, other) = (dir.path().join("lock"), dir.path().join("other"));
    let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
    let other_holder = Holder::locked(&["lock", other.to_str().unwrap()]);
    let mut forked = Holder::spawn(&[
        "fork-after-wait",
        path.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    // Its 300 ms timeout ends although the parent's timer thread is not its own.
    forked.expect_line("child other: timed out");
    holder.release();
    // Its wait is served although the parent's helper thread is not its own.
    assert_eq!(forked.next_line(PATIENCE).as_deref(), Some("child locked"));
    forked.expect_line("child 0");
    other_holder.release();
}
