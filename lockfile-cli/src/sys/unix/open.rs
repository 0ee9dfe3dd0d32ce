//! Opening files to lock them without writing to them, as flock(1) does.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{Access, OFlags, access, fcntl_getfl, fcntl_setfl};

use crate::sys::{Opened, Refused};

/// Opens `path` as util-linux flock(1) does: read-only, or read-write after
/// flock(2) was refused on a read-only descriptor (NFS), never truncating,
/// created (mode 0666 less the umask) if missing, and a directory read-only.
///
/// Unlike flock(1), a FIFO is refused rather than waited on: flock(1) blocks
/// in open(2) until some process opens it for writing.
pub(crate) fn open_like_flock(path: &Path, read_write: bool) -> Result<Opened, Refused> {
    // O_CREAT as a custom flag: std refuses `create` without write access,
    // and flock(1) asks for it on its read-only open.
    let file = match OpenOptions::new()
        .read(true)
        .write(read_write)
        .mode(0o666)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CREAT)
        .open(path)
    {
        // Linux refuses O_CREAT (and writing) on a directory: read it instead.
        Err(err) if err.raw_os_error() == Some(libc::EISDIR) => {
            let mut read_only = OpenOptions::new();
            read_only
                .read(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK);
            read_only.open(path)
        }
        other => other,
    }
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
    Ok(Opened { file })
}

/// Whether this user may read and write `path` (flock(1) checks this before
/// reopening read-write).
pub(crate) fn may_read_and_write(path: &Path) -> bool {
    access(path, Access::READ_OK | Access::WRITE_OK).is_ok()
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

/// Whether `fd` is a regular file (not a pipe, a terminal, a directory...).
pub(crate) fn is_regular(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|stat| {
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile
    })
}
