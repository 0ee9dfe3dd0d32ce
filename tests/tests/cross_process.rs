//! Locks between real processes (semantics 1, 2, 6, 8, 9, 12).

mod support;

use std::process::Command;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedContext, LockedFile};
use support::{Holder, PATIENCE, try_lock_elsewhere};
#[cfg(unix)]
use support::{flock_n, have_flock};

/// The host name as `uname -n` (Windows: `hostname`) says, lower-cased:
/// Windows host names are case-insensitive, and Wine's `hostname` prints the
/// `NetBIOS` name, upper-cased.
fn hostname() -> String {
    let out = if cfg!(windows) {
        Command::new("hostname").output()
    } else {
        Command::new("uname").arg("-n").output()
    };
    let name = String::from_utf8(out.unwrap().stdout).unwrap();
    if cfg!(windows) {
        name.trim().to_lowercase()
    } else {
        name.trim().to_owned()
    }
}

/// `holder` as the holder says it, with the host name as [`hostname`] does.
fn normalized(holder: Option<String>) -> Option<String> {
    holder.map(|who| {
        if cfg!(windows) {
            who.to_lowercase()
        } else {
            who
        }
    })
}

#[test]
fn another_process_lock_excludes_ours_and_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let holder = Holder::locked(&[
        "lock",
        path.to_str().unwrap(),
        "--template",
        "{pid};{hostname}",
    ]);
    let expected = format!("{};{}", holder.pid(), hostname());
    match LockFile::new(&path) {
        Err(LockError::Contended { holder: who, .. }) => {
            assert_eq!(normalized(who.content), Some(expected.clone()));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    holder.release();
    // Read once released: on Windows byte 0 is locked while held.
    let content = std::fs::read_to_string(&path).unwrap();
    assert_eq!(normalized(Some(content)), Some(format!(" {expected}\n")));
    drop(LockFile::new(&path).unwrap());
}

#[test]
fn our_lock_excludes_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    let out = try_lock_elsewhere(&path);
    assert_eq!(out.status.code(), Some(3));
    let expected = format!(
        "error: Couldn't lock '{}': held by {}\n",
        path.display(),
        std::process::id()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // Semantic 7: the library itself logs nothing about a failure to acquire.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    lock.close().unwrap();
    let out = try_lock_elsewhere(&path);
    assert!(out.status.success(), "{out:?}");
}

/// `SIGKILL` on Unix, `TerminateProcess` on Windows.
#[test]
fn a_holder_killed_with_sigkill_frees_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    for _ in 0..5 {
        let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
        assert!(LockFile::new(&path).is_err());
        let status = holder.kill();
        assert!(!status.success());
        // One try, right after the holder is reaped: no retry, no stale lock.
        LockFile::new(&path).unwrap().close().unwrap();
    }
}

#[test]
fn waiting_forever_gets_the_lock_when_the_other_process_releases() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    let waiter = std::thread::spawn({
        let name = name.clone();
        move || LockedContext::new(name).and_then(LockedContext::close)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "did not wait");
    holder.release();
    waiter.join().unwrap().unwrap();
    let content = std::fs::read_to_string(dir.path().join("job.lock")).unwrap();
    assert_eq!(content, format!(" {}\n", std::process::id()));
}

#[test]
fn another_process_waits_for_ours_forever_or_with_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    for wait in ["forever", "60000"] {
        let guard = LockedContext::new(&name).unwrap();
        let mut waiter = Holder::spawn(&["context", name.to_str().unwrap(), "--wait", wait]);
        assert_eq!(
            waiter.next_line(Duration::from_millis(300)),
            None,
            "--wait {wait} did not wait"
        );
        guard.close().unwrap();
        waiter.expect_line("locked");
        let pid = waiter.pid();
        waiter.release();
        // Read once released: on Windows byte 0 is locked while held.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("job.lock")).unwrap(),
            format!(" {pid}\n")
        );
    }
}

#[test]
fn timeout_across_processes_reports_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let holder = Holder::locked(&[
        "context",
        name.to_str().unwrap(),
        "--template",
        "{pid};{hostname}",
    ]);
    let err = LockedContext::with_timeout(&name, Duration::from_millis(200)).unwrap_err();
    match &err {
        LockError::Timeout {
            waited,
            holder: who,
            ..
        } => {
            assert!(
                *waited >= Duration::from_millis(200) && *waited < PATIENCE,
                "{waited:?}"
            );
            assert_eq!(
                normalized(who.content.clone()),
                Some(format!("{};{}", holder.pid(), hostname()))
            );
            assert_eq!(who.pid(), Some(holder.pid()));
            assert_eq!(who.is_this_host(), Some(true));
            assert_eq!(who.is_alive(), Some(true));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    holder.release();
    drop(LockedContext::with_timeout(&name, PATIENCE).unwrap());
}

#[test]
fn a_failed_open_of_the_data_file_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("missing.txt");
    let err = LockedFile::open(&data, "r").unwrap_err();
    assert!(
        matches!(&err, LockError::Io { path, .. } if *path == data),
        "{err:?}"
    );
    let out = try_lock_elsewhere(&dir.path().join("missing.txt.lock"));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_locked_file_excludes_another_process_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "0").unwrap();
    let holder = Holder::locked(&["file", data.to_str().unwrap(), "--mode", "r+"]);
    let err = LockOptions::new()
        .timeout(Duration::ZERO)
        .locked_file(&data, "w")
        .unwrap_err();
    assert!(matches!(err, LockError::Contended { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(&data).unwrap(),
        "0",
        "truncated without the lock"
    );
    holder.release();
    LockedFile::open(&data, "w").unwrap().close().unwrap();
}

#[test]
fn a_spawned_child_does_not_inherit_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    // Any long-running child will do: a holder of another lock.
    let child = Holder::locked(&["lock", dir.path().join("other").to_str().unwrap()]);
    lock.close().unwrap();
    let out = try_lock_elsewhere(&path);
    child.kill();
    assert!(out.status.success(), "the child kept the lock: {out:?}");
}

#[test]
#[cfg(unix)]
fn util_linux_flock_and_we_exclude_each_other() {
    if !have_flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    assert_eq!(flock_n(&path, "-x"), 1, "flock -n got a lock we hold");
    lock.close().unwrap();
    assert_eq!(flock_n(&path, "-x"), 0, "flock -n failed on a free lock");

    // flock(1) holding: it prints once locked, then holds until its stdin closes.
    let mut flock = support::spawn_locked(Command::new("flock").arg(&path).args([
        "sh",
        "-c",
        "echo locked; cat >/dev/null",
    ]));
    assert!(matches!(
        LockFile::new(&path),
        Err(LockError::Contended { .. })
    ));
    drop(flock.stdin.take());
    assert!(flock.wait().unwrap().success());
    drop(LockFile::new(&path).unwrap());
}

/// Windows' read-only attribute: `windows.rs`.
#[test]
#[cfg(target_os = "linux")] // util-linux setpriv, /proc
fn a_read_only_lock_file_is_a_clear_error_and_stays_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("readonly.lock");
    std::fs::write(&path, " 1;someone-else\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let message = if support::running_as_root() {
        // Root may write anything, so the refusal is checked as an ordinary user.
        let out = support::holder_as_nobody(&["lock", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    } else {
        let err = LockFile::new(&path).unwrap_err();
        assert!(
            matches!(&err, LockError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied),
            "{err:?}"
        );
        format!("error: {err}\n")
    };
    assert!(
        message.starts_with(&format!("error: '{}': ", path.display())),
        "{message}"
    );
    assert!(message.contains("Permission denied"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " 1;someone-else\n");
}
