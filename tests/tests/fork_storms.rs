//! Forks without exec while other threads wait and probe (semantic 17): a
//! child never hangs on the machinery's state, and never holds a lock it
//! does not know of (a copy of a descriptor a thread of its parent waited on,
//! probed, or had not handed to a guard yet).
//!
//! Linux: the storms read `/proc/locks`.
#![cfg(target_os = "linux")]

mod support;

use support::{holder_command, trials};

fn storm(args: &[&str]) -> String {
    let out = holder_command(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn children_forked_amid_timed_and_async_waits_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    let forks = trials(150, 1000).to_string();
    let out = storm(&["fork-waits", dir.path().to_str().unwrap(), &forks]);
    assert_eq!(out, format!("hung 0 of {forks}"));
}

#[test]
fn children_forked_amid_probes_never_hold_the_probed_lock() {
    let dir = tempfile::tempdir().unwrap();
    let forks = trials(200, 2000).to_string();
    let out = storm(&["fork-probes", dir.path().to_str().unwrap(), &forks]);
    assert_eq!(out, format!("held-by-child 0 of {forks}"));
}

#[test]
fn a_child_forked_amid_more_than_64_waiters_forever_holds_none_of_their_locks() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-waiters", dir.path().to_str().unwrap(), "70"]);
    assert_eq!(out, "served 70 of 70");
}

#[test]
fn a_child_forked_while_an_async_lock_awaits_its_poll_does_not_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-unpolled", dir.path().to_str().unwrap(), "0"]);
    assert_eq!(out, "free");
}

/// A child's copy of an unpolled future owns a descriptor number the fork
/// handler let go of; dropping the copy must not close a lock the child took
/// since under the same number.
#[test]
fn a_child_dropping_its_copy_of_an_unpolled_async_lock_keeps_its_own_locks() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-unpolled-reuse", dir.path().to_str().unwrap(), "0"]);
    assert_eq!(out, "kept");
}

#[test]
fn children_forked_amid_fair_locks_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    let forks = trials(60, 600).to_string();
    let out = storm(&["fork-fair", dir.path().to_str().unwrap(), &forks]);
    assert_eq!(out, format!("hung 0 of {forks}"));
}

/// A pending async wait carried into a child forked without exec: its helper
/// and timer are the parent's threads, so the child starts over with its own
/// and ends with the lock or at its deadline, never hangs.
#[test]
fn an_async_wait_carried_into_a_forked_child_ends_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-pending-async", dir.path().to_str().unwrap()]);
    assert_eq!(out, "forever: got; timed: timed out");
}

#[test]
fn a_fair_async_wait_carried_into_a_forked_child_ends_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-pending-async", dir.path().to_str().unwrap(), "--fair"]);
    assert_eq!(out, "forever: got; timed: timed out");
}

/// A daemon's fork: the parent exits while its fair async wait is pending,
/// and the child awaits its copy. The child's copy of the parent's queue
/// descriptor is let go at the fork, so the parent's place in the queue goes
/// with the parent, and the child, starting over, gets the lock.
#[test]
fn a_fair_async_wait_carried_into_a_child_whose_parent_exits_gets_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-async-parent-exits", dir.path().to_str().unwrap()]);
    let pid = out.strip_prefix("child ").unwrap().to_owned();
    let result = dir.path().join("result");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !result.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let got = std::fs::read_to_string(&result);
    if got.is_err() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
    }
    assert_eq!(got.ok().as_deref(), Some("got"), "the child hung");
}

/// A child dropping its copy of a fair guard closes its copy of the queue
/// descriptor without unlocking: the parent, which holds the lock, keeps its
/// place in the queue, as it keeps the lock.
#[test]
fn a_child_dropping_its_copy_of_a_fair_guard_leaves_the_parents_place_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = storm(&["fork-fair-guard", dir.path().to_str().unwrap()]);
    assert_eq!(out, "1 1");
}

/// Children forked while threads take fair locks never get a copy of a
/// place in the queue without the lock it goes with: a ticket stays
/// registered (pointed at `/dev/null` in a child) until the lock file's
/// descriptor is a guard's. (With the ticket let go first, about one run in
/// three of four seconds caught a child with a place and no lock, a place it
/// would keep if the parent died holding the lock.)
#[test]
fn children_forked_amid_fair_takes_never_get_a_place_without_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let seconds = trials(4, 60).to_string();
    let out = storm(&["fork-fair-takes", dir.path().to_str().unwrap(), &seconds]);
    assert!(out.starts_with("slot-without-lock 0 of "), "{out}");
}
