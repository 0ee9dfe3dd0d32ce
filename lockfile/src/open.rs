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
pub(crate) const READ_ONLY: u32 = sys::READ_ONLY;

/// A regular lock file (not locked by us), and which file it is.
#[derive(Debug)]
pub(crate) struct Identified {
    pub(crate) file: File,
    pub(crate) id: FileId,
}

/// Opens `path` read-write, creating it with `mode` if missing (read-only,
/// creating nothing, with [`READ_ONLY`] in `mode`); never truncates
/// and never follows a symlink in the last component. The caller must
/// [`identify`] it before writing: the type check is left to that one `fstat`,
/// which, done after locking, also gives the length the content write needs.
///
/// An existing file is opened without `O_CREAT`: with `fs.protected_regular`
/// (the default of systemd distributions), an `O_CREAT` open of another
/// user's file in a world-writable sticky directory such as `/tmp` is refused,
/// even to root, while zc.lockfile (which opens without it first) gets in. A
/// missing file is created with `O_CREAT | O_EXCL`, and if someone else
/// created it in between, opened again: never the r+/a+ two-step that could
/// truncate or append.
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> Result<File, LockError> {
    if mode & READ_ONLY != 0 {
        return open_safely(path, OpenOptions::new().read(true));
    }
    loop {
        let mut existing = OpenOptions::new();
        existing.read(true).write(true);
        match open_safely(path, &mut existing) {
            Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut create = OpenOptions::new();
        create.read(true).write(true).create_new(true);
        sys::create_mode(&mut create, mode);
        match open_safely(path, &mut create) {
            Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
            Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(missing_directory(path, &source));
            }
            other => return other,
        }
    }
}

/// A create that fails with `ENOENT` is about the directory, not the file:
/// saying "No such file or directory" of the lock file would send the reader
/// looking for a file that is only to be created.
fn missing_directory(path: &Path, source: &io::Error) -> LockError {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let said = format!(
        "its directory '{}' does not exist ({source})",
        dir.display()
    );
    LockError::io(path, io::Error::new(io::ErrorKind::NotFound, said))
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
/// `file`), and says which file it is and how long. For a file whose lock
/// was just taken, see [`inspect`], which leaves the file to the caller.
pub(crate) fn identify(path: &Path, file: File) -> Result<Identified, LockError> {
    let (id, _, _) = inspect(path, &file)?;
    Ok(Identified { file, id })
}

/// The identity, length and whether it has a name (one link) of a regular
/// file without other hard links; else the error that refuses it.
///
/// A second hard link would let whoever made it turn our content write into an
/// overwrite of their target (a file they could not write themselves), the way a
/// symlink would; `O_NOFOLLOW` cannot see it, the link count can.
pub(crate) fn inspect(path: &Path, file: &File) -> Result<(FileId, u64, bool), LockError> {
    let info = regular_info(path, file)?;
    if info.links > 1 {
        return Err(unsafe_path(path, "a file with other hard links"));
    }
    Ok((info.id, info.len, info.links == 1))
}

/// Whether `path` names the file `id` now: after every wait, the caller
/// checks that the lock it got is still the lock at its path (renamed away,
/// or its directory switched, it is not; whoever holds the file now at `path`
/// holds the lock, and the caller starts over there).
pub(crate) fn path_names(path: &Path, id: FileId) -> Result<bool, LockError> {
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A missing directory is named as what is missing.
    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir/x.lock");
        let err = open_lock_file(&path, DEFAULT_MODE).unwrap_err().to_string();
        assert!(err.contains("no-such-dir' does not exist"), "{err}");
        assert!(!dir.path().join("no-such-dir").exists());
    }

    /// Renamed away, or a planted hard link removed after our open: the path
    /// no longer names the file we opened.
    #[test]
    fn a_file_no_longer_at_its_path_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let file = identify(&path, open_lock_file(&path, DEFAULT_MODE).unwrap()).unwrap();
        assert!(path_names(&path, file.id).unwrap());
        std::fs::rename(&path, dir.path().join("lock.old")).unwrap();
        assert!(!path_names(&path, file.id).unwrap());
        let other = identify(&path, open_lock_file(&path, DEFAULT_MODE).unwrap()).unwrap();
        assert_ne!(other.id, file.id);
        assert!(path_names(&path, other.id).unwrap());
    }
}
