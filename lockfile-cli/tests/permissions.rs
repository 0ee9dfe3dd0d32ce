//! Another user's lock file, as the unprivileged user `nobody` (through
//! util-linux `setpriv`), since root may write anything: `run` and `flock`
//! lock it through a read-only descriptor, as flock(1) does.
//!
//! Linux only: util-linux `setpriv`, and `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::{LOCKFILE, as_nobody, have, running_as_root, skip, text};

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A sticky, world-writable directory like /tmp, holding root's 0644 lock file.
fn shared_dir_with_roots_lock() -> Option<(tempfile::TempDir, String)> {
    if !running_as_root() {
        skip("switching to an unprivileged user needs root");
        return None;
    }
    if !have("setpriv", "--version") || !have("flock", "--version") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o1777);
    let lock = dir.path().join("shared.lock");
    fs::write(&lock, " 1;roots-host\n").unwrap();
    chmod(&lock, 0o644);
    Some((dir, lock.to_str().unwrap().to_owned()))
}

#[test]
fn run_locks_another_users_file_read_only_and_leaves_it_alone() {
    let Some((_dir, lock)) = shared_dir_with_roots_lock() else {
        return;
    };
    // While the command runs, the lock is held: flock(1) cannot take it.
    let check = format!("flock -n {lock} true; echo flock=$?");
    let out = as_nobody(LOCKFILE, &["run", "-v", &lock, "--", "sh", "-c", &check]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "flock=1\n");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("locked it read-only: the file does not say who holds the lock"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(&lock).unwrap(), " 1;roots-host\n");
    // Without -v it says nothing about it; -n conflicts work the same.
    let out = as_nobody(LOCKFILE, &["run", &lock, "--", "true"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
}

#[test]
fn flock_and_lockfile_flock_agree_on_another_users_file() {
    let Some((dir, lock)) = shared_dir_with_roots_lock() else {
        return;
    };
    let (_links, symlink) = support::flock_symlink();
    chmod(symlink.parent().unwrap(), 0o755);
    let missing = dir.path().join("ro").join("new.lock");
    fs::create_dir(missing.parent().unwrap()).unwrap();
    chmod(missing.parent().unwrap(), 0o555);
    let missing = missing.to_str().unwrap();
    for (args, code) in [
        (vec![lock.as_str(), "true"], 0),
        (vec!["-s", lock.as_str(), "true"], 0),
        (vec!["-n", lock.as_str(), "echo", "locked"], 0),
        // Nothing to open read-only, and no right to create it.
        (vec![missing, "true"], 66),
    ] {
        let real = as_nobody("flock", &args);
        let ours = as_nobody(LOCKFILE, &[&["flock"], args.as_slice()].concat());
        let linked = as_nobody(symlink.to_str().unwrap(), &args);
        for out in [&real, &ours, &linked] {
            assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
            assert_eq!(out.stdout, real.stdout, "{args:?}");
        }
    }
    assert_eq!(fs::read_to_string(&lock).unwrap(), " 1;roots-host\n");
}

#[test]
fn run_cannot_create_a_lock_file_where_it_may_not_write() {
    if !running_as_root() {
        skip("switching to an unprivileged user needs root");
        return;
    }
    if !have("setpriv", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o555);
    let lock = dir.path().join("new.lock");
    let out = as_nobody(
        LOCKFILE,
        &["run", lock.to_str().unwrap(), "--", "echo", "ran"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "lockfile: '{}': Permission denied (os error 13)\n",
            lock.display()
        )
    );
    assert!(!lock.exists());
}
