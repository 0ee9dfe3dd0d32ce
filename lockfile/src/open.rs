//! Opening a lock file without following, creating through, or disturbing
//! anything that is not a regular file of ours (semantics 3 and 12).

use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::path::Path;

use crate::LockError;

/// Mode for newly created lock files, before the umask: what zc.lockfile users
/// see from `touch`-like tools, without making the file writable by others.
pub(crate) const DEFAULT_MODE: u32 = 0o644;

/// A lock file opened read-write, not yet locked.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) id: FileId,
}

/// Which file this is, whatever path reached it: two opens of one file share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

/// Opens `path` read-write, creating it with `mode` if missing; never truncates,
/// never follows a symlink in the last component, and only returns regular files.
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> Result<Opened, LockError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    create_mode(&mut options, mode);
    open_checked(path, &mut options)
}

/// Opens an existing lock file read-only, to look at it; `None` if there is none.
pub(crate) fn open_existing(path: &Path) -> Result<Option<Opened>, LockError> {
    match open_checked(path, OpenOptions::new().read(true)) {
        Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        other => other.map(Some),
    }
}

/// `O_NONBLOCK` keeps the open of a FIFO from hanging and `O_NOCTTY` keeps a
/// terminal from becoming ours; both are refused right after by the type check,
/// without a byte read or written. Descriptors are close-on-exec (std's default).
fn open_checked(path: &Path, options: &mut OpenOptions) -> Result<Opened, LockError> {
    if path.as_os_str().is_empty() {
        let empty = io::Error::new(io::ErrorKind::InvalidInput, "the path is empty");
        return Err(LockError::io(path, empty));
    }
    safety_flags(options);
    let file = options
        .open(path)
        .map_err(|err| explain_open_error(path, err))?;
    let meta = file.metadata().map_err(|err| LockError::io(path, err))?;
    if !meta.file_type().is_file() {
        return Err(unsafe_path(path, meta.file_type()));
    }
    Ok(Opened {
        id: file_id(&meta),
        file,
    })
}

/// An open that failed on a symlink (`ELOOP`), directory (`EISDIR`), socket
/// (`ENXIO`) and the like is reported as what is there, not as an errno.
fn explain_open_error(path: &Path, err: io::Error) -> LockError {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => unsafe_path(path, meta.file_type()),
        _ => LockError::io(path, err),
    }
}

fn unsafe_path(path: &Path, kind: FileType) -> LockError {
    LockError::UnsafePath {
        path: path.to_path_buf(),
        found: describe(kind),
    }
}

#[cfg(unix)]
fn describe(kind: FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(unix)]
fn safety_flags(options: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
}

#[cfg(unix)]
fn create_mode(options: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(mode);
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}
