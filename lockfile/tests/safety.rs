//! Paths that must be refused without being touched (semantics 12 and 13).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use lockfile::{LockError, LockFile, LockOptions, LockedContext};

fn expect_unsafe(path: &Path, found: &str) {
    let err = LockFile::new(path).unwrap_err();
    match &err {
        LockError::UnsafePath { path: p, found: f } => assert_eq!((p.as_path(), *f), (path, found)),
        other => panic!("{}: expected UnsafePath, got {other:?}", path.display()),
    }
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains(found),
        "{message}"
    );
}

#[test]
fn symlink_to_a_file_is_refused_and_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious data\n").unwrap();
    let link = dir.path().join("lock");
    symlink(&victim, &link).unwrap();
    expect_unsafe(&link, "a symbolic link");
    // The waiting entry points refuse it too, before any wait.
    let err = LockOptions::new().lock(&link).unwrap_err();
    assert!(matches!(err, LockError::UnsafePath { .. }), "{err:?}");
    symlink(&victim, dir.path().join("ctx.lock")).unwrap();
    let err =
        LockedContext::with_timeout(dir.path().join("ctx"), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, LockError::UnsafePath { .. }), "{err:?}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious data\n");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn dangling_symlink_is_refused_and_nothing_created() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("would-be-created");
    let link = dir.path().join("lock");
    symlink(&target, &link).unwrap();
    expect_unsafe(&link, "a symbolic link");
    assert!(!target.exists());
}

#[test]
fn symlink_to_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("lock");
    symlink(dir.path(), &link).unwrap();
    expect_unsafe(&link, "a symbolic link");
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("lock");
    fs::create_dir(&sub).unwrap();
    expect_unsafe(&sub, "a directory");
    assert_eq!(fs::read_dir(&sub).unwrap().count(), 0);
}

#[test]
fn fifo_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("lock");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let (done, finished) = mpsc::channel();
    let fifo_in_thread = fifo.clone();
    std::thread::spawn(move || {
        expect_unsafe(&fifo_in_thread, "a FIFO");
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(10))
        .expect("locking a FIFO hung or failed");
}

#[test]
fn device_is_refused() {
    expect_unsafe(Path::new("/dev/null"), "a device");
}

#[test]
fn missing_parent_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("x.lock");
    let err = LockFile::new(&path).unwrap_err();
    assert!(
        matches!(&err, LockError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("no-such-dir/x.lock"), "{err}");
    assert!(!dir.path().join("no-such-dir").exists());
}

#[test]
fn empty_path_is_a_clear_error() {
    let err = LockFile::new("").unwrap_err();
    assert!(
        matches!(&err, LockError::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "'': the path is empty");
}

#[test]
fn nul_byte_in_path_is_a_clear_error() {
    let err = LockFile::new("bad\0name").unwrap_err();
    assert!(matches!(&err, LockError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("bad\0name"), "{err}");
}

fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

#[test]
fn new_lock_files_get_0644_less_umask_or_the_chosen_mode() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("default.lock");
    LockFile::new(&default).unwrap();
    let mode = fs::metadata(&default).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644 & !umask());

    let private = dir.path().join("private.lock");
    LockOptions::new().mode(0o600).lock(&private).unwrap();
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600 & !umask()
    );

    // An existing file keeps its mode.
    fs::set_permissions(&default, fs::Permissions::from_mode(0o640)).unwrap();
    LockOptions::new().mode(0o600).lock(&default).unwrap();
    assert_eq!(
        fs::metadata(&default).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn lock_descriptor_is_close_on_exec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _lock = LockFile::new(&path).unwrap();
    // A child lists the lock file among its open descriptors only if it inherited one.
    let out = Command::new("sh")
        .args(["-c", "ls -l /proc/self/fd/"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!listing.contains(path.to_str().unwrap()), "{listing}");
}
