//! The only calls that need `unsafe`: `LockFileEx` on byte 0, a second handle
//! on an open file (`ReOpenFile`), reading through a borrowed handle, the
//! handle's type and attributes, and surviving the console's Ctrl-C.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::windows::fs::FileExt;
use std::os::windows::io::{AsRawHandle, BorrowedHandle, FromRawHandle};
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::{INVALID_HANDLE_VALUE, TRUE};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    GetFileInformationByHandle, GetFileType, LockFileEx, ReOpenFile, UnlockFileEx,
};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::Threading::TerminateProcess;
use windows_sys::core::BOOL;

/// `LockFileEx` on byte 0, length 1, with `flags`; the handle is synchronous,
/// so the call is over when it returns.
pub(crate) fn lock_byte_0(handle: BorrowedHandle<'_>, flags: u32) -> io::Result<()> {
    let mut at_byte_0 = OVERLAPPED::default();
    // SAFETY: the handle is open while borrowed and synchronous (never opened
    // overlapped here); the OVERLAPPED only carries offset 0 for the call.
    let ok = unsafe { LockFileEx(handle.as_raw_handle(), flags, 0, 1, 0, &raw mut at_byte_0) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(crate) fn unlock_byte_0(handle: BorrowedHandle<'_>) -> io::Result<()> {
    let mut at_byte_0 = OVERLAPPED::default();
    // SAFETY: as in `lock_byte_0`.
    let ok = unsafe { UnlockFileEx(handle.as_raw_handle(), 0, 1, 0, &raw mut at_byte_0) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A new handle (a file object of its own, so locks of its own) on the file
/// `handle` has open, with `access`, found without its path.
pub(crate) fn reopen(handle: BorrowedHandle<'_>, access: u32) -> io::Result<File> {
    let share = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
    // SAFETY: the handle is open while borrowed; ReOpenFile takes plain values.
    let new = unsafe { ReOpenFile(handle.as_raw_handle(), access, share, 0) };
    if new == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a handle just opened, owned by nobody else; the File closes it.
    Ok(unsafe { File::from_raw_handle(new) })
}

/// Reads at `offset` through a borrowed handle (which moves its file
/// position, as any positioned read on Windows does).
pub(crate) fn read_at(
    handle: BorrowedHandle<'_>,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<usize> {
    // SAFETY: the handle is open while borrowed, and ManuallyDrop keeps the
    // File from closing it: it is only lent to `seek_read`.
    let file = ManuallyDrop::new(unsafe { File::from_raw_handle(handle.as_raw_handle()) });
    file.seek_read(buf, offset)
}

/// Ends the process `process` is a handle of, with exit code `code`.
pub(crate) fn terminate(process: BorrowedHandle<'_>, code: u32) -> io::Result<()> {
    // SAFETY: the handle is open while borrowed (a duplicate of the child's,
    // so the process object, and its pid, cannot go while we hold it).
    if unsafe { TerminateProcess(process.as_raw_handle(), code) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `GetFileType`: disk, character device, pipe or unknown.
pub(crate) fn file_type(handle: BorrowedHandle<'_>) -> u32 {
    // SAFETY: the handle is open while borrowed.
    unsafe { GetFileType(handle.as_raw_handle()) }
}

/// The file's attributes (directory, reparse point...).
pub(crate) fn attributes(handle: BorrowedHandle<'_>) -> io::Result<u32> {
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle is open while borrowed; `info` is the structure asked for.
    if unsafe { GetFileInformationByHandle(handle.as_raw_handle(), &raw mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.dwFileAttributes)
}

/// Whether a Ctrl-C or Ctrl-Break came since [`survive_console_interrupts`].
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C and Ctrl-Break reach every process of the console, the command
/// included, which decides what they mean; `lockfile` itself survives them and
/// keeps the lock until the command has ended. A handler, not the "ignore"
/// flag, which the command would inherit.
pub(crate) fn survive_console_interrupts() -> io::Result<()> {
    unsafe extern "system" fn handled(event: u32) -> BOOL {
        let interrupt = event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT;
        if interrupt {
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
        BOOL::from(interrupt)
    }
    // SAFETY: `handled` is a valid handler for the whole process lifetime (a
    // plain function) and touches nothing but its argument.
    if unsafe { SetConsoleCtrlHandler(Some(handled), TRUE) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a Ctrl-C or Ctrl-Break came since the handler was installed.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
