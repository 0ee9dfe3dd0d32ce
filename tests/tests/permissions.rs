//! Permissions, checked as an unprivileged user (`nobody`, through util-linux
//! `setpriv`), since root may write anything: clear errors, nothing changed.
//!
//! Linux only: util-linux `setpriv`, and `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use support::{holder_as_nobody, running_as_root, skip};

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory `nobody` can reach, with `mode`.
fn reachable_dir(mode: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), mode);
    dir
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_read_only_directory_is_a_clear_error_and_nothing_is_created() {
    if !running_as_root() {
        skip("switching to an unprivileged user needs root");
        return;
    }
    let dir = reachable_dir(0o555);
    let path = dir.path().join("new.lock");
    let out = holder_as_nobody(&["lock", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "error: '{}': Permission denied (os error 13)\n",
            path.display()
        )
    );
    assert!(!path.exists());
}

#[test]
fn another_users_lock_file_in_a_sticky_directory_is_left_alone() {
    if !running_as_root() {
        skip("switching to an unprivileged user needs root");
        return;
    }
    let dir = reachable_dir(0o1777);
    let theirs = dir.path().join("theirs.lock");
    fs::write(&theirs, " 1;their-host\n").unwrap();
    chmod(&theirs, 0o644);
    let before = fs::metadata(&theirs).unwrap();

    let out = holder_as_nobody(&["lock", theirs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "error: '{}': Permission denied (os error 13)\n",
            theirs.display()
        )
    );
    let after = fs::metadata(&theirs).unwrap();
    assert_eq!(fs::read_to_string(&theirs).unwrap(), " 1;their-host\n");
    assert_eq!(
        (before.mtime(), before.uid(), before.mode()),
        (after.mtime(), after.uid(), after.mode())
    );

    // nobody's own lock file in the same directory is fine, and is nobody's.
    let mine = dir.path().join("mine.lock");
    let out = holder_as_nobody(&["lock", mine.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let meta = fs::metadata(&mine).unwrap();
    assert_eq!(meta.uid(), 65534);
    assert_eq!(meta.mode() & 0o777, 0o644 & !umask_of_children());
}

/// The umask `setpriv` children run with: ours, inherited.
fn umask_of_children() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}
