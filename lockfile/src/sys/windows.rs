//! Windows: `LockFileEx` on byte 0, the byte zc.lockfile's `msvcrt.locking`
//! takes; no reparse point followed; (volume, file id) identity.
//!
//! Windows byte-range locks are mandatory: while one handle holds byte 0, no
//! other handle (of any process, ours included) can read or write that byte.
//! That is why the content starts with a space, as zc.lockfile's does: the
//! holder stays readable from offset 1 ([`HOLDER_OFFSET`]). Locking the whole
//! file, as std's `File::lock` does, would hide the holder from every waiter.
//!
//! The FFI goes through `windows-sys`; this is the one module of the crate
//! allowed `unsafe`, and each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::{FileExt, OpenOptionsExt};
use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, ERROR_LOCK_VIOLATION, ERROR_NOT_LOCKED,
    GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, NO_ERROR, STILL_ACTIVE,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT,
    FILE_ATTRIBUTE_TAG_INFO, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_ID_INFO, FILE_INFO_BY_HANDLE_CLASS, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_TYPE_CHAR, FILE_TYPE_DISK, FILE_TYPE_PIPE, FILE_TYPE_UNKNOWN, FileAttributeTagInfo,
    FileIdInfo, GetFileInformationByHandle, GetFileInformationByHandleEx, GetFileType,
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, ReOpenFile,
    SECURITY_IDENTIFICATION, UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::{Access, FileId, FileInfo};

/// Byte 0 is the locked one, unreadable to anyone but its holder; the holder's
/// content is read from the byte after it (the content's leading space is lost,
/// and trimmed anyway).
pub(crate) const HOLDER_OFFSET: u64 = 1;

/// Reparse tags (`winnt.h`) of the two kinds of link, to say which one was
/// refused; std and `windows-sys` keep them in modules this crate does not need.
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;

/// Opens a symlink or junction itself instead of what it points to, so the
/// caller's check refuses it; lets other processes open, read and write the
/// file (to wait for the lock and read who holds it) but not delete or rename
/// it while it is open, as Python's `open()` (zc.lockfile's) does: a lock
/// file cannot be removed from under a holder or a waiter here. A named pipe
/// planted at the path may only identify us, not impersonate us.
///
/// Handles are not inherited by child processes (std's default), and the
/// caller's type check refuses devices and pipes before anything is read or
/// written. Never `FILE_FLAG_OVERLAPPED`: the locks below rely on the handle
/// being synchronous.
pub(crate) fn harden(options: &mut OpenOptions) {
    options
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .security_qos_flags(SECURITY_IDENTIFICATION);
}

/// Windows files have no Unix permission bits: a new lock file gets the
/// directory's inherited ACL, as any file created there would.
/// (`LockOptions::mode` exists on Unix only, so this is always the default.)
pub(crate) fn create_mode(_options: &mut OpenOptions, _mode: u32) {}

/// What the handle is: a device or pipe is told apart by `GetFileType`
/// before its metadata is asked for (they have none worth reading), a
/// directory or reparse point by its attributes.
pub(crate) fn info(file: &File) -> io::Result<FileInfo> {
    let handle = raw(file);
    // SAFETY: `handle` is open for as long as `file` is borrowed.
    let kind = unsafe { GetFileType(handle) };
    match kind {
        FILE_TYPE_DISK => {}
        FILE_TYPE_CHAR => return Ok(not_a_file("a device")),
        FILE_TYPE_PIPE => return Ok(not_a_file("a pipe")),
        FILE_TYPE_UNKNOWN if last_error() != NO_ERROR => return Err(io::Error::last_os_error()),
        _ => return Ok(not_a_file("not a regular file")),
    }
    let mut by_handle = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: `handle` is open; the pointer is to a local of the type asked for.
    if unsafe { GetFileInformationByHandle(handle, &raw mut by_handle) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let attributes = by_handle.dwFileAttributes;
    let not_regular = if attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        Some(describe_reparse_point(handle))
    } else if attributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
        Some("a directory")
    } else {
        None
    };
    Ok(FileInfo {
        not_regular,
        id: file_id(handle, &by_handle),
        links: u64::from(by_handle.nNumberOfLinks),
        len: (u64::from(by_handle.nFileSizeHigh) << 32) | u64::from(by_handle.nFileSizeLow),
    })
}

/// Opens what the path names now, a link or junction itself and not its
/// target, without reading or writing it (no data access asked for, every
/// share mode granted, so it works whoever has the file open and however).
pub(crate) fn path_info(path: &Path) -> io::Result<FileInfo> {
    let file = OpenOptions::new()
        .access_mode(0)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        // Backup semantics, to open a directory at all.
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .security_qos_flags(SECURITY_IDENTIFICATION)
        .open(path)?;
    info(&file)
}

/// What is refused is named by what it is; the identity and counts of a
/// device or pipe are never looked at, the caller refuses it first.
fn not_a_file(found: &'static str) -> FileInfo {
    FileInfo {
        not_regular: Some(found),
        id: FileId {
            volume: 0,
            index: 0,
        },
        links: 0,
        len: 0,
    }
}

/// Every reparse point is refused, links or not: opened with
/// `FILE_FLAG_OPEN_REPARSE_POINT`, it is the reparse point itself that we
/// hold, not the file it stands for.
fn describe_reparse_point(handle: HANDLE) -> &'static str {
    let mut tag = FILE_ATTRIBUTE_TAG_INFO::default();
    match query(handle, FileAttributeTagInfo, &mut tag).map(|()| tag.ReparseTag) {
        Ok(IO_REPARSE_TAG_SYMLINK) => "a symbolic link",
        Ok(IO_REPARSE_TAG_MOUNT_POINT) => "a junction",
        _ => "a reparse point",
    }
}

/// The 128-bit file id and full volume serial number where the file system
/// has them (`FileIdInfo`; on `ReFS` the 64-bit index is not unique), else the
/// 32-bit serial number and 64-bit index of `GetFileInformationByHandle`.
/// Every file of one volume gets the same kind, so ids compare consistently.
fn file_id(handle: HANDLE, by_handle: &BY_HANDLE_FILE_INFORMATION) -> FileId {
    let mut id = FILE_ID_INFO::default();
    match query(handle, FileIdInfo, &mut id) {
        Ok(()) => FileId {
            volume: id.VolumeSerialNumber,
            index: u128::from_le_bytes(id.FileId.Identifier),
        },
        Err(_) => FileId {
            volume: u64::from(by_handle.dwVolumeSerialNumber),
            index: u128::from(
                (u64::from(by_handle.nFileIndexHigh) << 32) | u64::from(by_handle.nFileIndexLow),
            ),
        },
    }
}

/// `GetFileInformationByHandleEx` into `out`, which must be the structure
/// `class` fills in (each caller passes a matching pair).
fn query<T>(handle: HANDLE, class: FILE_INFO_BY_HANDLE_CLASS, out: &mut T) -> io::Result<()> {
    let size = u32::try_from(size_of::<T>()).expect("a small structure");
    // SAFETY: `handle` is open; `out` is valid for writes of `size` bytes,
    // and the callers pair `class` with the structure of its documented type.
    let ok = unsafe { GetFileInformationByHandleEx(handle, class, (&raw mut *out).cast(), size) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// One try; `Ok(false)` if someone else holds it. Windows locks are not
/// reentrant: a second handle of this process is refused like another process.
///
/// What cannot be locked at all is not a regular file (`NUL` says
/// `ERROR_INVALID_HANDLE` or `ERROR_INVALID_FUNCTION`): that is answered as
/// "held", so that the caller's type check, which comes next for a held lock,
/// refuses it as what it is rather than reporting an error code.
pub(crate) fn try_lock(file: &File, access: Access) -> io::Result<bool> {
    match lock_byte_0(file, access, LOCKFILE_FAIL_IMMEDIATELY) {
        Ok(()) => Ok(true),
        Err(err) if err.raw_os_error() == Some(win32(ERROR_LOCK_VIOLATION)) => Ok(false),
        Err(_) if info(file).is_ok_and(|info| info.not_regular.is_some()) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Blocks in `LockFileEx` until the lock is ours. Windows has no signals to
/// interrupt it; a timed or async wait runs this in a helper thread, as on
/// Unix (`CancelSynchronousIo` cannot cut it short, and an overlapped wait is
/// not granted under Wine 8, so neither is used).
pub(crate) fn lock(file: &File, access: Access) -> io::Result<()> {
    lock_byte_0(file, access, 0)
}

fn lock_byte_0(file: &File, access: Access, flags: u32) -> io::Result<()> {
    let flags = match access {
        Access::Exclusive => flags | LOCKFILE_EXCLUSIVE_LOCK,
        Access::Shared => flags,
    };
    let mut at_byte_0 = OVERLAPPED::default();
    // SAFETY: the handle is open and synchronous (never FILE_FLAG_OVERLAPPED),
    // so the call is complete when it returns; the OVERLAPPED only carries the
    // offset (zeroed: byte 0) and is not referred to afterwards.
    let ok = unsafe { LockFileEx(raw(file), flags, 0, 1, 0, &raw mut at_byte_0) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Unlocks explicitly, then closes. Closing alone releases a handle's locks,
/// but Microsoft documents the release of locks left to the system as taking
/// a while; and there is no fork on Windows whose copy of the handle an unlock
/// could take the lock from. A lock belongs to the process that took it, so a
/// child given a copy of the handle never holds it.
///
/// A handle that holds no lock (a probe that found the lock taken) is closed
/// without an error: Windows says `ERROR_NOT_LOCKED` and Wine 8
/// `ERROR_LOCK_VIOLATION`, and either way there is nothing to release.
pub(crate) fn release(file: File) -> io::Result<()> {
    let unlocked = unlock(&file);
    drop(file);
    match unlocked {
        Err(err)
            if err.raw_os_error() == Some(win32(ERROR_NOT_LOCKED))
                || err.raw_os_error() == Some(win32(ERROR_LOCK_VIOLATION)) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Lets go of a lock taken a moment ago on a handle of our own, only to look
/// at a lock (who holds it, and how), not to release a guard, which is done by
/// [`release`].
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    let mut at_byte_0 = OVERLAPPED::default();
    // SAFETY: as in `lock_byte_0`: an open synchronous handle, and an
    // OVERLAPPED that only carries offset 0 for the duration of the call.
    let ok = unsafe { UnlockFileEx(raw(file), 0, 1, 0, &raw mut at_byte_0) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether process `pid` of this host is running; `None` if that cannot be
/// told. A process we may not query (another user's, a protected one) exists
/// all the same; a pid that names no process, or one that exited, is not
/// running. (A process that exited with code 259, `STILL_ACTIVE`, would pass
/// for running: the documented limit of `GetExitCodeProcess`.)
pub(crate) fn process_alive(pid: u32) -> Option<bool> {
    // SAFETY: OpenProcess takes plain values; a null result is checked below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return match last_error() {
            ERROR_ACCESS_DENIED => Some(true),
            ERROR_INVALID_PARAMETER => Some(false),
            _ => None,
        };
    }
    // SAFETY: a process handle just opened, owned from here on and closed on drop.
    let process = unsafe { OwnedHandle::from_raw_handle(process) };
    let mut code = 0;
    // SAFETY: `process` is open with the access GetExitCodeProcess needs, and
    // `code` is a valid place for the result.
    if unsafe { GetExitCodeProcess(process.as_raw_handle(), &raw mut code) } == 0 {
        return None;
    }
    Some(code == STILL_ACTIVE.cast_unsigned())
}

/// `seek_write` moves the handle's file position; nothing relies on it.
pub(crate) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                buf = &buf[written..];
                offset += written as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.seek_read(buf, offset)
}

/// Windows has no `fork`: no child can keep a copy of a handle being waited
/// on, and there is nothing to register.
#[derive(Debug)]
pub(crate) struct WaitingDescriptor;

impl WaitingDescriptor {
    pub(crate) fn open<E>(open: impl FnOnce() -> Result<File, E>) -> Result<(File, Self), E> {
        open().map(|file| (file, Self))
    }
}

/// Windows has no `fork`: state of the process is simply static, made on
/// first use.
pub(crate) struct PerProcess<T>(std::sync::OnceLock<T>);

impl<T: Default + Sync> PerProcess<T> {
    pub(crate) const fn new() -> Self {
        Self(std::sync::OnceLock::new())
    }

    pub(crate) fn get(&self) -> &T {
        self.0.get_or_init(T::default)
    }
}

/// How a waiter opens the caller's lock file again: from the file itself, a
/// second handle on the first try's file object, which `ReOpenFile` opens
/// anew (a file object of its own, for a lock of its own) without looking at
/// any path. Callers that reached one file by different paths share a
/// helper; a path would be the first caller's, which a renamed directory
/// (Wine allows that while a file in it is open) makes name nothing, or
/// another file. The caller checks its own path after every wait anyway.
#[derive(Debug)]
pub(crate) struct Anchor(OwnedHandle);

impl Anchor {
    pub(crate) fn new(_path: &Path, file: &File) -> io::Result<Self> {
        file.as_handle().try_clone_to_owned().map(Self)
    }

    pub(crate) fn open_registered(&self, mode: u32) -> io::Result<(File, WaitingDescriptor)> {
        let access = if mode & super::READ_ONLY == 0 {
            GENERIC_READ | GENERIC_WRITE
        } else {
            GENERIC_READ
        };
        // SAFETY: `self.0` is an open handle we own for the whole call;
        // ReOpenFile only reads it and returns a new handle or
        // INVALID_HANDLE_VALUE.
        let handle = unsafe {
            ReOpenFile(
                self.0.as_raw_handle(),
                access,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                FILE_FLAG_OPEN_REPARSE_POINT,
            )
        };
        if handle == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the handle was just returned to us and is owned by no one else.
        let file = unsafe { File::from_raw_handle(handle) };
        Ok((file, WaitingDescriptor))
    }
}

/// `FlushFileBuffers` needs write access: a handle without it (a data file
/// opened to read) has nothing to flush, and Windows says `ERROR_ACCESS_DENIED`.
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    match file.sync_data() {
        Err(err) if err.raw_os_error() == Some(win32(ERROR_ACCESS_DENIED)) => Ok(()),
        other => other,
    }
}

/// Handles are opened blocking; there is nothing to undo.
#[allow(clippy::unnecessary_wraps)] // Unix's can fail.
pub(crate) fn clear_nonblocking(_file: &File) -> io::Result<()> {
    Ok(())
}

fn raw(file: &File) -> HANDLE {
    file.as_raw_handle()
}

fn last_error() -> u32 {
    // SAFETY: GetLastError only reads this thread's last-error value.
    unsafe { windows_sys::Win32::Foundation::GetLastError() }
}

/// A Win32 error code as `io::Error::raw_os_error` gives it.
fn win32(code: u32) -> i32 {
    code.cast_signed()
}

/// The lock's handle, e.g. for Windows APIs that take one.
///
/// A Windows lock belongs to the process that took it, through this handle: a
/// child process given a duplicate of the handle does not hold the lock, and
/// the lock ends when this process releases it or exits. (On Unix, a child
/// can inherit the lock through [`AsFd`](https://doc.rust-lang.org/std/os/fd/trait.AsFd.html).)
///
/// ```
/// use std::os::windows::io::AsHandle;
/// # let dir = tempfile::tempdir()?;
/// let lock = scoped_lockfile::LockFile::new(dir.path().join("lock"))?;
/// let handle = lock.as_handle();
/// # let _ = handle;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl AsHandle for crate::LockFile {
    fn as_handle(&self) -> std::os::windows::io::BorrowedHandle<'_> {
        self.file().as_handle()
    }
}

pub(crate) use super::no_ranges::{FAIR_SUPPORTED, range_conflicts, range_lock, range_unlock};
