//! A child forked without `exec` shares the parent's lock; dropping or closing
//! its copy must leave the parent's lock held (semantic 6: release by closing,
//! never by `flock(LOCK_UN)`).
//!
//! Unix only: Windows has no `fork`.
#![cfg(unix)]

mod support;

use support::{Holder, try_lock_elsewhere};

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
