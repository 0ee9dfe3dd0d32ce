//! The library follows what the system says now, and leaves nothing
//! half-done when the system refuses part of a write (semantics 4, 5, 13), and
//! opens lock files the way `fs.protected_regular` allows (semantic 3).
//!
//! Linux: UTS namespaces, `RLIMIT_FSIZE` and the sysctl are Linux's. The host
//! name and sysctl tests need root and say so when skipped.
#![cfg(target_os = "linux")]

mod support;

use std::process::Command;

use support::{holder_command, running_as_root, try_lock_elsewhere};

fn skip_unless_root(what: &str) -> bool {
    if running_as_root() {
        return false;
    }
    eprintln!("NOTICE: skipping {what}: it needs root");
    true
}

fn output(args: &[&str]) -> String {
    let out = holder_command(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// zc.lockfile looks the host name up on every lock; so do we.
#[test]
fn the_host_name_is_looked_up_on_every_lock() {
    if skip_unless_root("the host name test (unshare + sethostname)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = output(&["rename-host", dir.path().to_str().unwrap(), "_"]);
    let mut lines = out.lines();
    let content = lines.next().unwrap();
    assert!(content.ends_with(";lockfile-after"), "{out}");
    assert_eq!(lines.next(), Some("this-host Some(true)"), "{out}");
}

/// A content write cut short by `RLIMIT_FSIZE` (as by a full disk) leaves the
/// previous holder's content, not part of ours, and the lock free.
#[test]
fn a_content_write_cut_short_leaves_the_previous_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limited.lock");
    std::fs::write(&path, " 1\n").unwrap();
    let out = output(&["file-size-limit", path.to_str().unwrap(), "50"]);
    assert!(out.starts_with("error "), "{out}");
    assert!(out.contains("File too large"), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " 1\n");
    assert!(try_lock_elsewhere(&path).status.success());
}

/// Sets `fs.protected_regular` for the test and puts the old value back,
/// panic or not.
struct ProtectedRegular(String);

const SYSCTL: &str = "/proc/sys/fs/protected_regular";

impl ProtectedRegular {
    fn set(value: &str) -> Option<Self> {
        let old = std::fs::read_to_string(SYSCTL).ok()?;
        std::fs::write(SYSCTL, value).ok()?;
        Some(Self(old))
    }
}

impl Drop for ProtectedRegular {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, self.0.trim());
    }
}

/// With `fs.protected_regular = 1` (systemd's default), root may not open
/// another user's file in a world-writable sticky directory with `O_CREAT`;
/// zc.lockfile gets in by opening it without first, and so must we.
#[test]
fn another_user_s_lock_file_in_a_sticky_directory_opens_under_protected_regular() {
    use std::os::unix::fs::PermissionsExt;
    if skip_unless_root("the fs.protected_regular test") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sticky = dir.path().join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = sticky.join("x.lock");
    let made = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["sh", "-c", "umask 0 && : > \"$1\"", "sh"])
        .arg(&path)
        .status()
        .expect("setpriv (util-linux)");
    assert!(made.success());
    let Some(_restore) = ProtectedRegular::set("1") else {
        eprintln!("NOTICE: skipping the fs.protected_regular test: cannot set {SYSCTL}");
        return;
    };
    // The setting is in force: an O_CREAT open is refused.
    let refused = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path);
    assert!(refused.is_err(), "fs.protected_regular is not in force");
    let lock = scoped_lockfile::LockFile::new(&path).unwrap();
    lock.close().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(" {}\n", std::process::id())
    );
}
