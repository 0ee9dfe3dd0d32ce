//! Opening a lock file without following, creating through, or disturbing
//! anything that is not a regular file of ours (semantics 3 and 12), and
//! telling, once it is locked, whether it is still the lock at its path (6).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::LockError;
use crate::sys::{self, FileId, FileInfo};

/// Mode for newly created lock files, before the umask: what zc.lockfile users
/// see from `touch`-like tools, without making the file writable by others.
pub(crate) const DEFAULT_MODE: u32 = 0o644;

/// A bit above every permission bit of a lock file's `mode`, set by
/// `LockOptions::read_only`: open the file read-only, create nothing, write
/// nothing. It rides along with the mode, which every entry point (sync,
/// timed, async, the waiting helpers) already passes down to where the file
/// is opened and the content written.
pub(crate) const READ_ONLY: u32 = 1 << 31;

/// A regular lock file, with what `fstat` said about it.
#[derive(Debug)]
pub(crate) struct Identified {
    pub(crate) file: File,
    pub(crate) id: FileId,
    /// Its length when identified; exact while we hold the lock.
    pub(crate) len: u64,
    /// Whether it had a name then: no link left means it was removed or
    /// replaced (a file with more than one is refused).
    pub(crate) named: bool,
}

/// Opens `path` read-write, creating it with `mode` if missing (read-only,
/// creating nothing, with [`READ_ONLY`] in `mode`); never truncates
/// and never follows a symlink in the last component. The caller must
/// [`identify`] it before writing: the type check is left to that one `fstat`,
/// which, done after locking, also gives the length the content write needs.
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> Result<File, LockError> {
    let mut options = OpenOptions::new();
    if mode & READ_ONLY == 0 {
        options.read(true).write(true).create(true);
        sys::create_mode(&mut options, mode);
    } else {
        options.read(true);
    }
    open_safely(path, &mut options)
}

/// Opens an existing lock file read-only, to look at it; `None` if there is none.
pub(crate) fn open_existing(path: &Path) -> Result<Option<Identified>, LockError> {
    match open_safely(path, OpenOptions::new().read(true)) {
        Ok(file) => identify(path, file).map(Some),
        Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Opens an existing file read-only without an `fstat`, only to ask the
/// kernel about its byte-range locks (the fair queue's, on a newcomer's fast
/// path); `None` if there is none. Hardened as every open here.
///
/// No file is the common case, on the uncontended path: told from the errno
/// alone, before any error (and its `lstat`) is built.
pub(crate) fn open_if_exists(path: &Path) -> Result<Option<File>, LockError> {
    let mut options = OpenOptions::new();
    options.read(true);
    sys::harden(&mut options);
    match options.open(path) {
        Ok(file) => Ok(Some(file)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(explain_open_error(path, err)),
    }
}

fn open_safely(path: &Path, options: &mut OpenOptions) -> Result<File, LockError> {
    if path.as_os_str().is_empty() {
        let empty = io::Error::new(io::ErrorKind::InvalidInput, "the path is empty");
        return Err(LockError::io(path, empty));
    }
    sys::harden(options);
    options
        .open(path)
        .map_err(|err| explain_open_error(path, err))
}

/// Refuses anything but a regular file with no other hard link (dropping
/// `file`, and with it any lock on it), and says which file it is and how long.
///
/// A second hard link would let whoever made it turn our content write into an
/// overwrite of their target (a file they could not write themselves), the way a
/// symlink would; `O_NOFOLLOW` cannot see it, the link count can.
pub(crate) fn identify(path: &Path, file: File) -> Result<Identified, LockError> {
    let info = regular_info(path, &file)?;
    if info.links > 1 {
        return Err(unsafe_path(path, "a file with other hard links"));
    }
    Ok(Identified {
        id: info.id,
        len: info.len,
        named: info.links == 1,
        file,
    })
}

/// Identifies a file whose lock was just taken, or `None` (dropping it, which
/// releases the lock) if it is no longer the lock file at `path`: removed or
/// replaced (no name left: the `fstat` says so) or, after a wait, renamed away
/// (a `stat` of the path says so). Whoever holds the file now at `path` holds
/// the lock; the caller starts over there.
///
/// The first try, which waits for nothing, skips the `stat`: it would cost a
/// fifth of an uncontended take (BENCHMARKS.md), against a window of the
/// microseconds between our `open` and our `flock`, in which only a rename of
/// the lock file (or the removal of a hard link planted at its path) goes
/// unseen. The documentation says so.
pub(crate) fn identify_locked(
    path: &Path,
    file: File,
    waited: bool,
) -> Result<Option<Identified>, LockError> {
    let locked = identify(path, file)?;
    let still_the_lock = locked.named && (!waited || path_names(path, locked.id)?);
    Ok(still_the_lock.then_some(locked))
}

/// Whether `path` still names the file `id`.
fn path_names(path: &Path, id: FileId) -> Result<bool, LockError> {
    match sys::path_info(path) {
        Ok(info) => Ok(info.id == id),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(LockError::io(path, err)),
    }
}

/// Opens a `LockedFile`'s data file with the lock file's protections: no symlink
/// in the last component, no FIFO, socket, device or directory. Hard links are
/// the owner's business for data files. The descriptor is left blocking, as
/// any other file of the caller's.
pub(crate) fn open_data_file(path: &Path, mut options: OpenOptions) -> Result<File, LockError> {
    let file = open_safely(path, &mut options)?;
    regular_info(path, &file)?;
    sys::clear_nonblocking(&file).map_err(|err| LockError::io(path, err))?;
    Ok(file)
}

fn regular_info(path: &Path, file: &File) -> Result<FileInfo, LockError> {
    let info = sys::info(file).map_err(|err| LockError::io(path, err))?;
    match info.not_regular {
        None => Ok(info),
        Some(found) => Err(unsafe_path(path, found)),
    }
}

/// An open that failed on a symlink (`ELOOP`), directory (`EISDIR`), socket
/// (`ENXIO`) and the like is reported as what is there, not as an errno.
fn explain_open_error(path: &Path, err: io::Error) -> LockError {
    match sys::path_info(path) {
        Ok(FileInfo {
            not_regular: Some(found),
            ..
        }) => unsafe_path(path, found),
        _ => LockError::io(path, err),
    }
}

fn unsafe_path(path: &Path, found: &'static str) -> LockError {
    LockError::UnsafePath {
        path: path.to_path_buf(),
        found,
    }
}

// Unix only: on Windows a file we have open cannot be renamed or removed (no
// delete sharing), so the race these tests stage cannot happen there.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// What a racing `rm` or `mv` during a wait leaves us with: the
    /// descriptor of a file that is no longer the lock at `path`.
    #[test]
    fn a_locked_file_no_longer_at_its_path_is_not_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");

        let file = open_lock_file(&path, DEFAULT_MODE).unwrap();
        assert!(identify_locked(&path, file, true).unwrap().is_some());

        // Renamed away: still one link, but another file (or none) at the path.
        let file = open_lock_file(&path, DEFAULT_MODE).unwrap();
        std::fs::rename(&path, dir.path().join("lock.old")).unwrap();
        assert!(identify_locked(&path, file, true).unwrap().is_none());
        let file = open_lock_file(&path, DEFAULT_MODE).unwrap();
        std::fs::rename(dir.path().join("lock.old"), &path).unwrap();
        assert!(identify_locked(&path, file, true).unwrap().is_none());

        // A planted hard link to someone's file, removed after our open: one
        // link left, the target's own, and nothing of ours at the path.
        let precious = dir.path().join("precious");
        std::fs::write(&precious, "data").unwrap();
        let planted = dir.path().join("planted");
        std::fs::hard_link(&precious, &planted).unwrap();
        let file = open_lock_file(&planted, DEFAULT_MODE).unwrap();
        std::fs::remove_file(&planted).unwrap();
        assert!(identify_locked(&planted, file, true).unwrap().is_none());
        assert_eq!(std::fs::read(&precious).unwrap(), b"data");
    }
}
