//! A lock file removed or replaced while someone waits for it (semantic 6):
//! the waiter must not take the old file's lock while a newcomer holds the new
//! file at the same path; it starts over on the path instead.
//!
//! Unix only: on Windows a lock file that any process has open cannot be
//! removed, renamed or replaced (no delete sharing), as `windows.rs` checks.
#![cfg(unix)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::{Holder, try_lock_elsewhere};

/// How the file at the path is made to be another one.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// `rm`, as a person "fixing" a stale lock or a cleaner of /tmp does.
    Remove,
    /// A new file renamed over it.
    Replace,
    /// Renamed away, leaving the path free for a new one.
    RenameAway,
}

fn change(path: &Path, how: Change) {
    match how {
        Change::Remove => std::fs::remove_file(path).unwrap(),
        Change::Replace => {
            let fresh = path.with_extension("fresh");
            std::fs::write(&fresh, "").unwrap();
            std::fs::rename(&fresh, path).unwrap();
        }
        Change::RenameAway => std::fs::rename(path, path.with_extension("old")).unwrap(),
    }
}

fn waiter_follows_the_path(how: Change, wait: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let p = path.to_str().unwrap();
    let old_holder = Holder::locked(&["lock", p]);
    let mut args = vec!["lock", p];
    args.extend_from_slice(wait);
    let mut waiter = Holder::spawn(&args);
    // Let the waiter block on the old file (its helper, for timed and async).
    assert_eq!(waiter.next_line(Duration::from_millis(300)), None);
    change(&path, how);
    let newcomer = Holder::locked(&["lock", p]);
    old_holder.release();
    // The old file's lock is free now; the waiter must see it is not the lock
    // at the path any more, and wait for the newcomer instead.
    let line = waiter.next_line(Duration::from_millis(500));
    assert_eq!(
        line, None,
        "{how:?} {wait:?}: the waiter took the old file while the newcomer holds the new one"
    );
    assert_eq!(try_lock_elsewhere(&path).status.code(), Some(3));
    newcomer.release();
    waiter.expect_line("locked");
    // And it holds the lock at the path, the one others contend for.
    assert_eq!(try_lock_elsewhere(&path).status.code(), Some(3));
    waiter.release();
}

const FOREVER: &[&str] = &["--wait", "forever"];
const TIMED: &[&str] = &["--wait", "30000"];
const ASYNC: &[&str] = &["--wait", "30000", "--async"];
const ASYNC_FOREVER: &[&str] = &["--wait", "forever", "--async"];

#[test]
fn removed_while_waiting_forever() {
    waiter_follows_the_path(Change::Remove, FOREVER);
}

#[test]
fn removed_while_waiting_with_a_timeout() {
    waiter_follows_the_path(Change::Remove, TIMED);
}

#[test]
fn removed_while_waiting_async() {
    waiter_follows_the_path(Change::Remove, ASYNC);
    waiter_follows_the_path(Change::Remove, ASYNC_FOREVER);
}

#[test]
fn replaced_while_waiting() {
    for wait in [FOREVER, TIMED, ASYNC] {
        waiter_follows_the_path(Change::Replace, wait);
    }
}

#[test]
fn renamed_away_while_waiting() {
    for wait in [FOREVER, TIMED, ASYNC] {
        waiter_follows_the_path(Change::RenameAway, wait);
    }
}
