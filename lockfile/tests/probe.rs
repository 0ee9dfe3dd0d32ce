//! `probe` looks without touching.

use std::fs;

use std::path::Path;

use scoped_lockfile::{Holder, KernelView, LockError, LockFile, Probe};

/// The probe without the kernel's view, which `kernel_view.rs` tests: what
/// the file says, and whether it is held (shared), on every platform.
fn probe(path: &Path) -> Result<Probe, LockError> {
    let mut probe = scoped_lockfile::probe(path)?;
    match &mut probe {
        Probe::Held { holder }
        | Probe::Free {
            last_holder: holder,
        } => {
            *holder.kernel = KernelView::Unknown;
        }
        _ => {}
    }
    Ok(probe)
}

#[test]
fn a_missing_file_is_free_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.lock");
    assert_eq!(probe(&path).unwrap(), Probe::Missing);
    assert!(!path.exists());
}

#[test]
fn a_held_lock_is_reported_and_left_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let lock = LockFile::with_content_template(&path, "7;box").unwrap();
    let before = fs::metadata(&path).unwrap();
    assert_eq!(
        probe(&path).unwrap(),
        Probe::Held {
            holder: Holder::new(Some("7;box".into()))
        }
    );
    let after = fs::metadata(&path).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    assert_eq!(before.len(), after.len());
    // Still held by us: probing took nothing away.
    assert!(LockFile::new(&path).is_err());
    lock.close().unwrap();
    // Read once released: on Windows byte 0 is locked while held.
    assert_eq!(fs::read_to_string(&path).unwrap(), " 7;box\n");
    assert_eq!(
        probe(&path).unwrap(),
        Probe::Free {
            last_holder: Holder::new(Some("7;box".into()))
        }
    );
    // And probing a free lock leaves it free.
    LockFile::new(&path).unwrap();
}

#[test]
fn an_empty_free_file_has_no_last_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.lock");
    fs::write(&path, "").unwrap();
    assert_eq!(
        probe(&path).unwrap(),
        Probe::Free {
            last_holder: Holder::new(None)
        }
    );
}

#[test]
fn directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        probe(dir.path()),
        Err(LockError::UnsafePath {
            found: "a directory",
            ..
        })
    ));
}

/// Windows' symbolic links: `tests/windows.rs`.
#[test]
#[cfg(unix)]
fn symlinks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("link.lock");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    assert!(matches!(probe(&link), Err(LockError::UnsafePath { .. })));
}
