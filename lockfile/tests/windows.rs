//! What is Windows' own: the lock is byte 0 (zc.lockfile's), mandatory there,
//! so the holder is read from byte 1; share modes; reparse points and devices
//! refused (semantics 2, 4, 12).
//!
//! Tests Wine cannot model are `#[ignore]`d under `--cfg wine` (set by
//! `.ci/windows`), each saying why; real Windows runs them all.
#![cfg(windows)]
#![allow(unsafe_code)] // LockFileEx, as zc.lockfile's msvcrt.locking calls it.

use std::fs::{self, File, OpenOptions};
use std::os::windows::fs::FileExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use scoped_lockfile::{Holder, LockError, LockFile, LockOptions, LockedFile, Probe, probe};
use windows_sys::Win32::Foundation::{
    ERROR_LOCK_VIOLATION, ERROR_PRIVILEGE_NOT_HELD, ERROR_SHARING_VIOLATION,
};
use windows_sys::Win32::Storage::FileSystem::{
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

const LOCK_VIOLATION: Option<i32> = Some(ERROR_LOCK_VIOLATION.cast_signed());
const SHARING_VIOLATION: Option<i32> = Some(ERROR_SHARING_VIOLATION.cast_signed());

/// Another handle on the file, opened as any program would (std's defaults).
fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// One try at an exclusive lock of `len` bytes at `offset` on `file`'s handle:
/// zc.lockfile's lock is `(0, 1)`.
fn raw_try_lock(file: &File, offset: u32, len: u32) -> std::io::Result<()> {
    let mut at = OVERLAPPED::default();
    at.Anonymous.Anonymous.Offset = offset;
    let flags = LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY;
    // SAFETY: the handle is open and synchronous; the OVERLAPPED carries the
    // offset for the duration of the call only.
    let ok = unsafe { LockFileEx(file.as_raw_handle(), flags, 0, len, 0, &raw mut at) };
    if ok == 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn raw_unlock(file: &File, offset: u32, len: u32) {
    let mut at = OVERLAPPED::default();
    at.Anonymous.Anonymous.Offset = offset;
    // SAFETY: as in `raw_try_lock`.
    let ok = unsafe { UnlockFileEx(file.as_raw_handle(), 0, len, 0, &raw mut at) };
    assert_ne!(ok, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn the_lock_is_byte_0_alone_and_the_holder_is_read_from_byte_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::with_content_template(&path, "4242;web-1").unwrap();
    let other = open_rw(&path);
    let err = raw_try_lock(&other, 0, 1).unwrap_err();
    assert_eq!(err.raw_os_error(), LOCK_VIOLATION, "{err}");
    // Not the whole file, as std's File::lock would take: byte 1 on is free.
    raw_try_lock(&other, 1, 1).unwrap();
    raw_unlock(&other, 1, 1);
    let mut buf = [0; 64];
    let len = other.seek_read(&mut buf, 1).unwrap();
    assert_eq!(&buf[..len], b"4242;web-1\n");
    match LockFile::new(&path) {
        Err(LockError::Contended { holder, .. }) => {
            assert_eq!(holder.content.as_deref(), Some("4242;web-1"));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    lock.close().unwrap();
    // Released by the close, at once, for another handle.
    raw_try_lock(&other, 0, 1).unwrap();
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 does not enforce byte-range locks on reads and writes"
)]
fn byte_0_of_a_held_lock_file_cannot_be_read_or_written_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    let other = open_rw(&path);
    let err = other.seek_read(&mut [0; 8], 0).unwrap_err();
    assert_eq!(err.raw_os_error(), LOCK_VIOLATION, "{err}");
    let err = other.seek_write(b"x", 0).unwrap_err();
    assert_eq!(err.raw_os_error(), LOCK_VIOLATION, "{err}");
    lock.close().unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        format!(" {}\n", std::process::id()).as_bytes()
    );
}

#[test]
fn a_raw_lock_on_byte_0_and_ours_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    fs::write(&path, " 77\n").unwrap();
    let zc = open_rw(&path);
    raw_try_lock(&zc, 0, 1).unwrap();
    match LockFile::new(&path) {
        Err(LockError::Contended { holder, .. }) => {
            assert_eq!(holder.content.as_deref(), Some("77"));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    assert_eq!(
        probe(&path).unwrap(),
        Probe::Held {
            holder: Holder::new(Some("77".into()))
        }
    );
    raw_unlock(&zc, 0, 1);
    let ours = LockFile::new(&path).unwrap();
    let err = raw_try_lock(&zc, 0, 1).unwrap_err();
    assert_eq!(err.raw_os_error(), LOCK_VIOLATION, "{err}");
    ours.close().unwrap();
    raw_try_lock(&zc, 0, 1).unwrap();
}

#[test]
fn others_may_open_and_read_a_held_lock_file_but_not_delete_or_rename_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    // Read and write sharing: what a waiter, `probe` and `type` need.
    drop(open_rw(&path));
    drop(File::open(&path).unwrap());
    // No delete sharing, as Python's open() (zc.lockfile's): a lock file in
    // use cannot be removed from under its holder and waiters.
    let err = fs::remove_file(&path).unwrap_err();
    assert_eq!(err.raw_os_error(), SHARING_VIOLATION, "{err}");
    let err = fs::rename(&path, dir.path().join("moved")).unwrap_err();
    assert_eq!(err.raw_os_error(), SHARING_VIOLATION, "{err}");
    lock.close().unwrap();
    fs::remove_file(&path).unwrap();
}

#[test]
fn content_bytes_are_the_same_as_on_unix_never_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    LockFile::with_content_template(&path, "{pid};{hostname}")
        .unwrap()
        .close()
        .unwrap();
    let content = fs::read(&path).unwrap();
    let host = gethostname::gethostname();
    let expected = format!(" {};{}\n", std::process::id(), host.to_string_lossy());
    assert_eq!(content, expected.as_bytes());
    assert!(!content.contains(&b'\r'));
}

#[test]
fn a_device_is_refused() {
    for device in [r"\\.\NUL", "NUL"] {
        let err = LockFile::new(device).unwrap_err();
        assert!(
            matches!(
                &err,
                LockError::UnsafePath {
                    found: "a device",
                    ..
                }
            ),
            "{device}: {err:?}"
        );
    }
}

/// A symbolic link, or `None` (after a notice) where this account may not
/// make one: Windows asks for Developer Mode or an administrator.
fn symlink_file(target: &Path, link: &Path) -> Option<()> {
    match std::os::windows::fs::symlink_file(target, link) {
        Ok(()) => Some(()),
        Err(err) if err.raw_os_error() == Some(ERROR_PRIVILEGE_NOT_HELD.cast_signed()) => {
            eprintln!("NOTICE: skipping: this account may not create symbolic links: {err}");
            None
        }
        Err(err) => panic!("symlink_file: {err}"),
    }
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8's CreateSymbolicLinkW reports success and creates nothing"
)]
fn a_symbolic_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious data\n").unwrap();
    let link = dir.path().join("lock");
    let Some(()) = symlink_file(&victim, &link) else {
        return;
    };
    for err in [
        LockFile::new(&link).unwrap_err(),
        LockOptions::new().lock(&link).unwrap_err(),
        probe(&link).unwrap_err(),
        LockedFile::open(&link, "w").unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                LockError::UnsafePath {
                    found: "a symbolic link",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(fs::read(&victim).unwrap(), b"precious data\n");
    // A dangling one is refused too, and nothing is created where it points.
    let nowhere = dir.path().join("nowhere");
    let dangling = dir.path().join("dangling.lock");
    symlink_file(&nowhere, &dangling).unwrap();
    assert!(matches!(
        LockFile::new(&dangling),
        Err(LockError::UnsafePath {
            found: "a symbolic link",
            ..
        })
    ));
    assert!(!nowhere.exists());
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 makes no junction: its mklink /J reports success and creates nothing"
)]
fn a_junction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::create_dir(&target).unwrap();
    let junction = dir.path().join("lock");
    // Junctions need no privilege; std makes none, cmd does.
    let made = std::process::Command::new("cmd")
        .arg("/C")
        .arg("mklink")
        .arg("/J")
        .arg(&junction)
        .arg(&target)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let err = LockFile::new(&junction).unwrap_err();
    assert!(
        matches!(
            err,
            LockError::UnsafePath {
                found: "a junction",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine keeps the read-only attribute as Unix permissions, which root (CI) ignores"
)]
fn a_read_only_lock_file_is_a_clear_error_and_stays_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readonly.lock");
    fs::write(&path, " 1;someone-else\n").unwrap();
    let mut permissions = fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(&path, permissions).unwrap();
    let err = LockFile::new(&path).unwrap_err();
    assert!(
        matches!(&err, LockError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("'{}': ", path.display())),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), " 1;someone-else\n");
}

/// How long a waiter takes to get the lock once its holder lets go, for each
/// kind of wait (the holder and the waiter are threads here; the waiter's own
/// handle makes it the same to Windows as another process). Printed, not
/// asserted: timing is for benchmarks. A poll would show its interval; a wait
/// blocked in `LockFileEx` shows the wake-up.
#[test]
fn hand_over_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let patience = std::time::Duration::from_secs(30);
    for kind in ["forever", "timed", "async"] {
        let mut samples = Vec::new();
        for _ in 0..40 {
            let lock = LockFile::new(&path).unwrap();
            let waiter = std::thread::spawn({
                let path = path.clone();
                move || {
                    let got = match kind {
                        "forever" => LockOptions::new().wait_forever().lock(&path),
                        "timed" => LockOptions::new().timeout(patience).lock(&path),
                        _ => tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap()
                            .block_on(LockOptions::new().timeout(patience).lock_async(&path)),
                    };
                    (std::time::Instant::now(), got)
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            let released = std::time::Instant::now();
            lock.close().unwrap();
            let (taken, got) = waiter.join().unwrap();
            got.unwrap().close().unwrap();
            samples.push(taken - released);
        }
        samples.sort();
        println!(
            "COUNT windows/hand-over {kind}: {} rounds, median {:?}, 90th {:?}, max {:?}",
            samples.len(),
            samples[samples.len() / 2],
            samples[samples.len() * 9 / 10],
            samples[samples.len() - 1]
        );
    }
}
