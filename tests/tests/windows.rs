//! Windows, between processes (semantics 2, 4, 6): zc.lockfile's lock, byte 0
//! as its `msvcrt.locking` takes it (the `holder zc` helper), and ours exclude
//! each other both ways, and waits hand over from one to the other; a lock
//! file another process has open cannot be removed or renamed.
#![cfg(windows)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedContext, Probe, probe};
use support::{Holder as Process, PATIENCE, holder_command};

/// One try by zc.lockfile's lock in another process: its exit code (0 taken
/// and given back, 3 busy).
fn zc_try(path: &std::path::Path) -> Option<i32> {
    let out = holder_command(&["zc", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out.status.code()
}

#[test]
fn zc_lockfile_s_lock_in_another_process_excludes_ours_and_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let holder = Process::locked(&["zc", path.to_str().unwrap()]);
    let pid = holder.pid().to_string();
    match LockFile::new(&path) {
        Err(LockError::Contended { holder: who, .. }) => {
            assert_eq!(who.pid(), Some(holder.pid()));
            assert!(!who.shared);
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    match LockOptions::new()
        .timeout(Duration::from_millis(100))
        .lock(&path)
    {
        Err(LockError::Timeout { holder: who, .. }) => {
            assert_eq!(who.content, Some(pid.clone()));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(
        probe(&path).unwrap(),
        Probe::Held {
            holder: scoped_lockfile::Holder::new(Some(pid))
        }
    );
    holder.release();
    // A wait, not one try: the timed wait's helper may be holding the lock
    // for a moment, before it finds nobody waits and lets go.
    let ours = LockOptions::new().timeout(PATIENCE).lock(&path).unwrap();
    assert_eq!(zc_try(&path), Some(3), "zc.lockfile took a lock we hold");
    ours.close().unwrap();
    assert_eq!(zc_try(&path), Some(0));
}

#[test]
fn our_lock_in_another_process_excludes_zc_lockfile_s() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    for shared in [&[][..], &["--shared"]] {
        let mut args = vec!["lock", path.to_str().unwrap()];
        args.extend(shared);
        let holder = Process::locked(&args);
        assert_eq!(zc_try(&path), Some(3), "zc.lockfile took a lock we hold");
        holder.release();
        assert_eq!(zc_try(&path), Some(0));
    }
    // And a reader of ours cannot take zc.lockfile's.
    let zc = Process::locked(&["zc", path.to_str().unwrap()]);
    let out = holder_command(&["lock", path.to_str().unwrap(), "--shared"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    zc.release();
}

#[test]
fn every_wait_is_handed_zc_lockfile_s_lock_when_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let path = dir.path().join("job.lock");
    for wait in [
        &["--wait", "forever"][..],
        &["--wait", "60000"],
        &["--wait", "60000", "--async"],
    ] {
        let zc = Process::locked(&["zc", path.to_str().unwrap()]);
        let mut args = vec!["context", name.to_str().unwrap()];
        args.extend(wait);
        let mut waiter = Process::spawn(&args);
        assert_eq!(
            waiter.next_line(Duration::from_millis(300)),
            None,
            "{wait:?} did not wait"
        );
        zc.release();
        waiter.expect_line("locked");
        assert_eq!(zc_try(&path), Some(3), "{wait:?}");
        waiter.release();
    }
    // And zc.lockfile, which cannot wait, gets ours once released.
    let guard = LockedContext::with_timeout(&name, PATIENCE).unwrap();
    assert_eq!(zc_try(&path), Some(3));
    guard.close().unwrap();
    assert_eq!(zc_try(&path), Some(0));
}

#[test]
fn a_lock_file_another_process_has_open_cannot_be_removed_or_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let sharing_violation = Some(32); // ERROR_SHARING_VIOLATION
    let holder = Process::locked(&["lock", path.to_str().unwrap()]);
    let err = std::fs::remove_file(&path).unwrap_err();
    assert_eq!(err.raw_os_error(), sharing_violation, "{err}");
    let err = std::fs::rename(&path, dir.path().join("moved")).unwrap_err();
    assert_eq!(err.raw_os_error(), sharing_violation, "{err}");
    holder.release();
    std::fs::remove_file(&path).unwrap();
}
