//! `LockedFile`: lock first, then open in a Python mode (semantic 9).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedFile};

fn setup(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    if !content.is_empty() {
        fs::write(&path, content).unwrap();
    }
    (dir, path)
}

fn read_all(f: &mut LockedFile) -> String {
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    text
}

fn can_write(f: &mut LockedFile) -> bool {
    f.write_all(b"+").is_ok()
}

#[test]
fn read_modes_read_and_only_plus_writes() {
    for (mode, writable) in [
        ("r", false),
        ("rb", false),
        ("rt", false),
        ("r+", true),
        ("r+b", true),
        ("rb+", true),
    ] {
        let (_dir, path) = setup("hello");
        let mut f = LockedFile::open(&path, mode).unwrap();
        assert_eq!(read_all(&mut f), "hello", "{mode}");
        assert_eq!(can_write(&mut f), writable, "{mode}");
        f.close().unwrap();
    }
}

#[test]
fn read_mode_needs_the_file_and_releases_the_lock_when_it_is_missing() {
    let (_dir, path) = setup("");
    let err = LockedFile::open(&path, "r").unwrap_err();
    match &err {
        LockError::Io { path: p, source } => {
            assert_eq!(p, &path);
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(err.to_string().contains("data.txt"), "{err}");
    // The lock was taken and given back: one try succeeds at once.
    drop(LockFile::new(path.with_file_name("data.txt.lock")).unwrap());
}

#[test]
fn write_modes_create_and_truncate() {
    for (mode, readable) in [
        ("w", false),
        ("wb", false),
        ("wt", false),
        ("w+", true),
        ("w+b", true),
    ] {
        let (_dir, path) = setup("old content");
        let mut f = LockedFile::open(&path, mode).unwrap();
        assert_eq!(
            f.get_ref().metadata().unwrap().len(),
            0,
            "{mode} did not truncate"
        );
        f.write_all(b"new").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut buf = String::new();
        assert_eq!(f.read_to_string(&mut buf).is_ok(), readable, "{mode}");
        f.close().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new", "{mode}");

        let (_dir, missing) = setup("");
        LockedFile::open(&missing, mode).unwrap().close().unwrap();
        assert!(missing.exists(), "{mode} did not create");
    }
}

#[test]
fn append_modes_append_even_after_a_seek() {
    for (mode, readable) in [("a", false), ("ab", false), ("a+", true), ("a+b", true)] {
        let (_dir, path) = setup("one\n");
        let mut f = LockedFile::open(&path, mode).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"two\n").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut buf = String::new();
        assert_eq!(f.read_to_string(&mut buf).is_ok(), readable, "{mode}");
        f.close().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "one\ntwo\n", "{mode}");
    }
}

#[test]
fn exclusive_modes_create_only_new_files() {
    for (mode, readable) in [("x", false), ("xb", false), ("x+", true), ("xt+", true)] {
        let (_dir, path) = setup("");
        let mut f = LockedFile::open(&path, mode).unwrap();
        f.write_all(b"first").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut buf = String::new();
        assert_eq!(f.read_to_string(&mut buf).is_ok(), readable, "{mode}");
        f.close().unwrap();
        let err = LockedFile::open(&path, mode).unwrap_err();
        assert!(
            matches!(&err, LockError::Io { source, .. } if source.kind() == ErrorKind::AlreadyExists),
            "{mode}: {err:?}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        drop(LockFile::new(path.with_file_name("data.txt.lock")).unwrap());
    }
}

#[test]
fn bad_modes_touch_nothing() {
    for mode in ["rw", "q", "", "r++", "wx", "rbt"] {
        let (dir, path) = setup("");
        let err = LockedFile::open(&path, mode).unwrap_err();
        match &err {
            LockError::InvalidMode {
                path: p, mode: m, ..
            } => {
                assert_eq!((p, m.as_str()), (&path, mode));
            }
            other => panic!("{mode:?}: expected InvalidMode, got {other:?}"),
        }
        assert!(err.to_string().contains(&format!("{mode:?}")), "{err}");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{mode:?} created a file"
        );
    }
}

#[test]
fn truncating_mode_waits_for_the_lock_before_truncating() {
    let (_dir, path) = setup("precious");
    let lock_path = path.with_file_name("data.txt.lock");
    let holder = std::thread::spawn({
        let lock_path = lock_path.clone();
        move || {
            let lock = LockFile::new(&lock_path).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            lock.close().unwrap();
        }
    });
    while fs::metadata(&lock_path).map_or(0, |m| m.len()) == 0 {
        std::thread::yield_now();
    }
    let err = LockOptions::new()
        .timeout(Duration::from_millis(100))
        .locked_file(&path, "w")
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
    holder.join().unwrap();
    LockedFile::open(&path, "w").unwrap().close().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "");
}

#[test]
fn open_options_are_accepted_and_the_lock_is_held_until_close() {
    let (_dir, path) = setup("");
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    let mut f = LockedFile::open_with_options(&path, &options).unwrap();
    assert_eq!(
        f.lock_path(),
        Path::new(&format!("{}.lock", path.display()))
    );
    assert!(matches!(
        LockFile::new(f.lock_path()),
        Err(LockError::Contended { .. })
    ));
    writeln!(f, "line").unwrap();
    f.get_mut().sync_all().unwrap();
    let lock_path = f.lock_path().to_path_buf();
    f.close().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "line\n");
    drop(LockFile::new(lock_path).unwrap());
}

#[test]
fn drop_releases_the_lock_too() {
    let (_dir, path) = setup("");
    let lock_path = path.with_file_name("data.txt.lock");
    {
        let mut f = LockedFile::open(&path, "w").unwrap();
        f.write_all(b"kept").unwrap();
        assert!(LockFile::new(&lock_path).is_err());
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), "kept");
    drop(LockFile::new(&lock_path).unwrap());
}

/// The open flags of one of this process's descriptors, as Linux reports them.
#[cfg(target_os = "linux")]
fn open_flags(file: &std::fs::File) -> u32 {
    use std::os::fd::AsRawFd;
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .unwrap();
    u32::from_str_radix(flags.trim(), 8).unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn the_data_file_is_handed_over_blocking() {
    // O_NONBLOCK (0o4000 on Linux) guards the open against FIFOs; once the file
    // is known to be regular it is cleared, so the caller's descriptor (and a
    // child that inherits it) is an ordinary one.
    const O_NONBLOCK: u32 = 0o4000;
    let dir = tempfile::tempdir().unwrap();
    for mode in ["w", "r+", "a+", "x"] {
        let path = dir.path().join(format!("data-{mode}"));
        if mode == "r+" {
            fs::write(&path, "").unwrap();
        }
        let file = LockedFile::open(&path, mode).unwrap();
        assert_eq!(open_flags(file.get_ref()) & O_NONBLOCK, 0, "{mode}");
    }
}
