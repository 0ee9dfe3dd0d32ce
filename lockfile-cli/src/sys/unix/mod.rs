//! Unix: process groups, the terminal, signals, and flock(2) on descriptors.

mod ffi;
mod forward;
mod job;
mod lock;
mod open;
mod signals;
mod supervise;
mod terminal;

use std::os::fd::{AsFd, BorrowedFd};

use rustix::process::{Pid, test_kill_process};

pub(crate) use lock::lock;
pub(crate) use open::{open_read_only, read_start};
pub(crate) use signals::die_by;
pub(crate) use supervise::supervise;

/// A descriptor, borrowed: what locks are taken on.
pub(crate) type Fd<'a> = BorrowedFd<'a>;

/// The descriptor of an open file.
pub(crate) fn fd_of(file: &impl AsFd) -> Fd<'_> {
    file.as_fd()
}

/// Whether process `pid` runs on this host; `None` if that cannot be told.
pub(crate) fn process_exists(pid: u32) -> Option<bool> {
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw)?;
    // EPERM: it exists, but belongs to someone else.
    Some(match test_kill_process(pid) {
        Ok(()) => true,
        Err(err) => err == rustix::io::Errno::PERM,
    })
}
