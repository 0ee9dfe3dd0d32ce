//! Shared (reader) locks across processes, and with util-linux `flock -s` /
//! `flock -x` and Python's zc.lockfile on the same file (semantics 2 and 14).

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{Holder, flock_n, have_flock, spawn_locked, zc_holding, zc_python};

/// `holder lock PATH [--shared]`, one try: exit 0 (took it), 3 (contended).
fn try_elsewhere(path: &Path, shared: bool) -> Output {
    let mut args = vec!["lock", path.to_str().unwrap()];
    if shared {
        args.push("--shared");
    }
    support::holder_command(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn readers_in_two_processes_coexist_and_a_writer_waits_for_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let p = path.to_str().unwrap();
    let first = Holder::locked(&["lock", p, "--shared"]);
    let second = Holder::locked(&["lock", p, "--shared"]);
    assert_eq!(try_elsewhere(&path, true).status.code(), Some(0));
    let out = try_elsewhere(&path, false);
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.trim_end().ends_with(": held shared"), "{said}");
    let mut writer = Holder::spawn(&["lock", p, "--wait", "forever"]);
    first.release();
    assert_eq!(
        writer.next_line(std::time::Duration::from_millis(300)),
        None,
        "the writer took the lock beside a reader"
    );
    second.release();
    writer.expect_line("locked");
    assert_eq!(try_elsewhere(&path, true).status.code(), Some(3));
    writer.release();
}

#[test]
fn our_readers_and_flock_s_coexist_and_exclude_flock_x() {
    if !have_flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let reader = Holder::locked(&["lock", path.to_str().unwrap(), "--shared"]);
    assert_eq!(
        flock_n(&path, "-s"),
        0,
        "flock -s refused beside our reader"
    );
    assert_eq!(
        flock_n(&path, "-x"),
        1,
        "flock -x got the lock beside our reader"
    );
    reader.release();

    let mut theirs = spawn_locked(Command::new("flock").arg("-s").arg(&path).args([
        "sh",
        "-c",
        "echo locked; cat >/dev/null",
    ]));
    assert_eq!(try_elsewhere(&path, true).status.code(), Some(0));
    let out = try_elsewhere(&path, false);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("held shared"));
    drop(theirs.stdin.take());
    assert!(theirs.wait().unwrap().success());

    let mut theirs = spawn_locked(Command::new("flock").arg("-x").arg(&path).args([
        "sh",
        "-c",
        "echo locked; cat >/dev/null",
    ]));
    assert_eq!(try_elsewhere(&path, true).status.code(), Some(3));
    drop(theirs.stdin.take());
    assert!(theirs.wait().unwrap().success());
}

#[test]
fn zc_lockfile_and_our_readers_exclude_each_other() {
    let Some(python) = zc_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let mut zc = zc_holding(&python, &path, "");
    assert_eq!(try_elsewhere(&path, true).status.code(), Some(3));
    drop(zc.stdin.take());
    assert!(zc.wait().unwrap().success());

    let reader = Holder::locked(&["lock", path.to_str().unwrap(), "--shared"]);
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, zc.lockfile\ntry:\n    zc.lockfile.LockFile(sys.argv[1])\nexcept zc.lockfile.LockError:\n    sys.exit(3)",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "zc.lockfile took a lock our reader holds"
    );
    reader.release();
}
