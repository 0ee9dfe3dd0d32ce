//! Paths that must be refused without being touched (semantics 12 and 13).
//!
//! Symlinks, FIFOs, devices, modes and the umask are Unix's; Windows' links,
//! devices and handles are tested in `windows.rs`.

use std::fs;
#[cfg(target_os = "linux")]
use std::os::unix::fs::PermissionsExt;
#[cfg(unix)]
use std::os::unix::fs::symlink;
use std::path::Path;
#[cfg(unix)]
use std::process::Command;
#[cfg(unix)]
use std::sync::mpsc;
#[cfg(unix)]
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions};
#[cfg(unix)]
use scoped_lockfile::{LockedContext, LockedFile};

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
#[cfg(unix)]
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
#[cfg(unix)]
fn dangling_symlink_is_refused_and_nothing_created() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("would-be-created");
    let link = dir.path().join("lock");
    symlink(&target, &link).unwrap();
    expect_unsafe(&link, "a symbolic link");
    assert!(!target.exists());
}

#[test]
#[cfg(unix)]
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
#[cfg(unix)]
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
#[cfg(unix)]
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
    let shown = Path::new("no-such-dir").join("x.lock");
    assert!(err.to_string().contains(&*shown.to_string_lossy()), "{err}");
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

#[cfg(target_os = "linux")]
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

#[test]
#[cfg(target_os = "linux")] // /proc
fn new_lock_files_get_0644_less_umask_or_the_chosen_mode() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("default.lock");
    drop(LockFile::new(&default).unwrap());
    let mode = fs::metadata(&default).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644 & !umask());

    let private = dir.path().join("private.lock");
    drop(LockOptions::new().mode(0o600).lock(&private).unwrap());
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600 & !umask()
    );

    // An existing file keeps its mode.
    fs::set_permissions(&default, fs::Permissions::from_mode(0o640)).unwrap();
    drop(LockOptions::new().mode(0o600).lock(&default).unwrap());
    assert_eq!(
        fs::metadata(&default).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
#[cfg(target_os = "linux")] // /proc
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

#[test]
fn a_hard_link_to_another_file_is_refused_and_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious data\n").unwrap();
    let link = dir.path().join("lock");
    fs::hard_link(&victim, &link).unwrap();
    expect_unsafe(&link, "a file with other hard links");
    let err = LockOptions::new().lock(&link).unwrap_err();
    assert!(matches!(err, LockError::UnsafePath { .. }), "{err:?}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious data\n");
    // Refused after locking, so the lock was given back at once.
    fs::remove_file(&victim).unwrap();
    drop(LockFile::new(&link).unwrap());
}

#[test]
#[cfg(unix)]
fn a_symlink_at_the_data_path_is_refused_for_mode_strings() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious data\n").unwrap();
    let data = dir.path().join("data.txt");
    symlink(&victim, &data).unwrap();
    for mode in ["w", "a", "r+", "r", "x"] {
        let err = LockedFile::open(&data, mode).unwrap_err();
        assert!(
            matches!(&err, LockError::UnsafePath { path, found: "a symbolic link" } if *path == data),
            "{mode}: {err:?}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious data\n", "{mode}");
        // The lock was released right after the refusal.
        drop(LockFile::new(dir.path().join("data.txt.lock")).unwrap());
    }
    // Your own OpenOptions are used as given, following the link.
    let mut read = std::fs::OpenOptions::new();
    read.read(true);
    let mut file = LockedFile::open_with_options(&data, &read).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    assert_eq!(text, "precious data\n");
}

#[test]
#[cfg(unix)]
fn a_fifo_at_the_data_path_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("data");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (done, finished) = mpsc::channel();
    let in_thread = fifo.clone();
    std::thread::spawn(move || {
        let results: Vec<_> = ["r", "w", "a+"]
            .iter()
            .map(|mode| LockedFile::open(&in_thread, mode))
            .collect();
        done.send(results).unwrap();
    });
    let results = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("opening a FIFO hung");
    for result in results {
        assert!(
            matches!(
                result,
                Err(LockError::UnsafePath {
                    found: "a FIFO",
                    ..
                })
            ),
            "{result:?}"
        );
        // The data file is being opened, not locked: the message says neither
        // wrongly.
        let message = result.unwrap_err().to_string();
        assert_eq!(
            message,
            format!("refusing to use '{}': it is a FIFO", fifo.display())
        );
    }
}

#[test]
fn a_very_long_path_is_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let long_name = dir.path().join("x".repeat(300));
    let err = LockFile::new(&long_name).unwrap_err();
    // ENAMETOOLONG on Unix; Windows has its own codes for it.
    assert!(
        matches!(&err, LockError::Io { source, .. } if cfg!(windows) || source.raw_os_error() == Some(36)),
        "{err:?}"
    );
    assert_eq!(err.path(), long_name);
    let deep = dir.path().join("d/".repeat(3000)).join("lock");
    let err = LockFile::new(&deep).unwrap_err();
    assert!(matches!(&err, LockError::Io { .. }), "{err:?}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
#[cfg(unix)]
fn a_non_utf8_path_works() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.lock");
    let path = dir.path().join(name);
    let lock = LockFile::new(&path).unwrap();
    assert_eq!(lock.path(), path);
    assert_eq!(
        fs::read(&path).unwrap(),
        format!(" {}\n", std::process::id()).as_bytes()
    );
    let err = LockFile::new(&path).unwrap_err();
    assert!(
        err.to_string().contains("caf\u{fffd}-\u{fffd}.lock"),
        "{err}"
    );
    lock.close().unwrap();
    let context =
        LockedContext::new(dir.path().join(std::ffi::OsStr::from_bytes(b"\xfe"))).unwrap();
    assert_eq!(
        context.path().as_os_str().as_bytes().last_chunk::<5>(),
        Some(b".lock")
    );
}

#[test]
#[cfg(target_os = "linux")] // /proc
fn locking_does_not_change_the_umask() {
    let before = umask();
    let dir = tempfile::tempdir().unwrap();
    drop(LockFile::new(dir.path().join("a.lock")).unwrap());
    drop(
        LockOptions::new()
            .mode(0o600)
            .lock(dir.path().join("b.lock"))
            .unwrap(),
    );
    assert_eq!(umask(), before);
}
