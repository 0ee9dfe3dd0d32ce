//! Opening a lock file read-only, for `run` when it is not ours to write.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};

use crate::sys::{Opened, Refused};

/// Opens an existing `path` read-only to lock it, for a lock file we may not
/// write: no symlink followed in the last component, nothing created.
pub(crate) fn open_read_only(path: &Path) -> Result<Opened, Refused> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(Refused::Io)?;
    settle(file)
}

/// Refuses a FIFO; otherwise drops the `O_NONBLOCK` used to open it, so the
/// descriptor a command inherits is the plain one flock(1) would give it.
fn settle(file: File) -> Result<Opened, Refused> {
    let meta = file.metadata().map_err(Refused::Io)?;
    if meta.file_type().is_fifo() {
        return Err(Refused::Fifo);
    }
    let flags = fcntl_getfl(&file)
        .map_err(io::Error::from)
        .map_err(Refused::Io)?;
    fcntl_setfl(&file, flags - OFlags::NONBLOCK)
        .map_err(io::Error::from)
        .map_err(Refused::Io)?;
    let regular = meta.file_type().is_file();
    Ok(Opened { file, regular })
}

/// What the holder wrote at the start of the file, if it is a regular file
/// and readable through `fd`.
pub(crate) fn read_start(fd: BorrowedFd<'_>) -> Option<String> {
    const MAX: usize = 4096;
    let mut buf = vec![0; MAX];
    let len = rustix::io::pread(fd, &mut buf, 0).ok()?;
    buf.truncate(len);
    Some(String::from_utf8_lossy(&buf).into_owned())
}
