//! Opening a lock file without following, creating through, or disturbing
//! anything that is not a regular file of ours (semantics 3 and 12).

use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::path::Path;

use crate::LockError;

/// Mode for newly created lock files, before the umask: what zc.lockfile users
/// see from `touch`-like tools, without making the file writable by others.
pub(crate) const DEFAULT_MODE: u32 = 0o644;

/// A regular lock file, with what `fstat` said about it.
#[derive(Debug)]
pub(crate) struct Identified {
    pub(crate) file: File,
    pub(crate) id: FileId,
    /// Its length when identified; exact while we hold the lock.
    pub(crate) len: u64,
}

/// Which file this is, whatever path reached it: two opens of one file share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

/// Opens `path` read-write, creating it with `mode` if missing; never truncates
/// and never follows a symlink in the last component. The caller must
/// [`identify`] it before writing: the type check is left to that one `fstat`,
/// which, done after locking, also gives the length the content write needs.
///
/// `O_NONBLOCK` keeps the open of a FIFO from hanging and `O_NOCTTY` keeps a
/// terminal from becoming ours; nothing is read from or written to either
/// before `identify` refuses them. Descriptors are close-on-exec (std's default).
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> Result<File, LockError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    create_mode(&mut options, mode);
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

fn open_safely(path: &Path, options: &mut OpenOptions) -> Result<File, LockError> {
    if path.as_os_str().is_empty() {
        let empty = io::Error::new(io::ErrorKind::InvalidInput, "the path is empty");
        return Err(LockError::io(path, empty));
    }
    safety_flags(options);
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
    let meta = regular_metadata(path, &file)?;
    if meta.nlink() > 1 {
        return Err(LockError::UnsafePath {
            path: path.to_path_buf(),
            found: "a file with other hard links",
        });
    }
    Ok(Identified {
        id: file_id(&meta),
        len: meta.len(),
        file,
    })
}

/// Opens a `LockedFile`'s data file with the lock file's protections: no symlink
/// in the last component, no FIFO, socket, device or directory. Hard links are
/// the owner's business for data files.
pub(crate) fn open_data_file(path: &Path, mut options: OpenOptions) -> Result<File, LockError> {
    let file = open_safely(path, &mut options)?;
    regular_metadata(path, &file)?;
    Ok(file)
}

fn regular_metadata(path: &Path, file: &File) -> Result<std::fs::Metadata, LockError> {
    let meta = file.metadata().map_err(|err| LockError::io(path, err))?;
    if meta.file_type().is_file() {
        Ok(meta)
    } else {
        Err(unsafe_path(path, meta.file_type()))
    }
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
use std::os::unix::fs::MetadataExt;

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> FileId {
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}
