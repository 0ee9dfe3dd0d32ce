//! zc.lockfile's lock on Windows, taken as it takes it: the file opened as
//! Python's `open()` does (read and write sharing), then `msvcrt.locking(fd,
//! LK_NBLCK, 1)` at position 0, which is `LockFile` on byte 0, one byte, one
//! try; the content written after; `seek(0)` and `LK_UNLCK` to release.
#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::io::Read;
use std::os::windows::fs::{FileExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::process::ExitCode;

use windows_sys::Win32::Storage::FileSystem::{
    FILE_SHARE_READ, FILE_SHARE_WRITE, LockFile, UnlockFile,
};

pub(crate) fn hold(path: &Path) -> ExitCode {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .open(path)
        .expect("open");
    // SAFETY: the handle is open for the call; LockFile takes plain values.
    if unsafe { LockFile(file.as_raw_handle(), 0, 0, 1, 0) } == 0 {
        println!("error: busy");
        return ExitCode::from(3);
    }
    let content = format!(" {}\n", std::process::id());
    file.seek_write(content.as_bytes(), 0).expect("write");
    file.set_len(content.len() as u64).expect("truncate");
    super::say("locked");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    // SAFETY: as above; byte 0 is locked through this handle.
    let unlocked = unsafe { UnlockFile(file.as_raw_handle(), 0, 0, 1, 0) };
    assert_ne!(unlocked, 0, "{}", std::io::Error::last_os_error());
    drop(file);
    super::say("released");
    ExitCode::SUCCESS
}
