//! Unix: process groups, the terminal, signals, and flock(2) on descriptors.

mod ffi;
mod forward;
mod job;
mod leader;
mod lock;
mod open;
mod signals;
mod supervise;
mod terminal;

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};

pub(crate) use lock::lock;
pub(crate) use open::{is_regular, may_read_and_write, open_like_flock, read_start};
pub(crate) use signals::die_by;
pub(crate) use supervise::supervise;

use crate::sys::Ended;

/// What every run of `lockfile` does first: a group leader of ours leads
/// (and never returns); a SIGCHLD ignored by whoever started us is reset to
/// its default, as flock(1) does, or our children's exit statuses would
/// vanish (and the command would inherit it ignored).
pub(crate) fn at_start(argv0: Option<&std::ffi::OsStr>) {
    if argv0.is_some_and(leader::is_leader) {
        leader::lead();
    }
    if ffi::ignored_at_start(libc::SIGCHLD) {
        ffi::reset(libc::SIGCHLD);
    }
}

/// What flock(1) does for `-w`: a handler for its timer's signal, SIGALRM,
/// installed for the rest of the run, whether or not the lock had to be
/// waited for; so a SIGALRM does not end us (the command still gets it at
/// its default, as exec resets handlers).
pub(crate) fn catch_timer_signal() {
    // The saved action is dropped: the handler stays, as flock(1)'s does.
    let _ = ffi::interrupt_with(libc::SIGALRM);
}

/// The exit status after stdout turned out to be a closed pipe: none, since
/// we die by SIGPIPE as a C program would; or `code`, if SIGPIPE was ignored
/// when we started.
pub(crate) fn broken_pipe(code: u8) -> u8 {
    if ffi::ignored_at_start(libc::SIGPIPE) {
        code
    } else {
        die_by(libc::SIGPIPE)
    }
}

/// Makes `command` start as flock(1)'s would (SIGPIPE as we got it, a script
/// without `#!` run by /bin/sh).
pub(crate) fn start_as_flock_would(command: &mut Command) {
    ffi::start_as_flock_would(command);
}

/// A descriptor, borrowed: what locks are taken on.
pub(crate) type Fd<'a> = BorrowedFd<'a>;

/// The descriptor of an open file.
pub(crate) fn fd_of(file: &impl AsFd) -> Fd<'_> {
    file.as_fd()
}

/// The descriptor numbered `number` if this process has it open (`flock 9`).
pub(crate) fn descriptor(number: i32) -> Option<Fd<'static>> {
    ffi::open_descriptor(number)
}

/// Whether a command started now inherits `fd`.
pub(crate) fn set_inheritable(fd: Fd<'_>, inheritable: bool) -> io::Result<()> {
    let flags = fcntl_getfd(fd)?;
    let flags = if inheritable {
        flags - FdFlags::CLOEXEC
    } else {
        flags | FdFlags::CLOEXEC
    };
    Ok(fcntl_setfd(fd, flags)?)
}

/// `-c LINE`: the line as the shell runs it, the shell as flock(1) picks it:
/// `$SHELL`, or `/bin/sh`.
pub(crate) fn shell_command(line: &std::ffi::OsStr) -> Command {
    let shell = std::env::var_os("SHELL")
        .filter(|shell| !shell.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let mut command = Command::new(shell);
    command.arg("-c").arg(line);
    command
}

/// Replaces this process with `command`; returns only if that failed.
pub(crate) fn exec(command: &mut Command) -> io::Error {
    command.exec()
}

/// How a finished command ended.
pub(crate) fn ended(status: ExitStatus) -> Ended {
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Code(code),
        (None, Some(signal)) => Ended::Signal(signal),
        (None, None) => Ended::Code(1),
    }
}

/// flock(1)'s exit status for a file it cannot open: out of memory or
/// descriptors (`EX_OSERR`), a read-only or full file system (`EX_CANTCREAT`),
/// anything else (`EX_NOINPUT`).
pub(crate) fn open_failure_status(err: &io::Error) -> u8 {
    match err.raw_os_error() {
        Some(libc::ENOMEM | libc::EMFILE | libc::ENFILE) => 71,
        Some(libc::EROFS | libc::ENOSPC) => 73,
        _ => 66,
    }
}

/// flock(1)'s exit status when flock(2) itself fails: out of lock records or
/// memory (`EX_OSERR`), anything else (`EX_DATAERR`).
pub(crate) fn lock_failure_status(err: &io::Error) -> u8 {
    match err.raw_os_error() {
        Some(libc::ENOLCK | libc::ENOMEM) => 71,
        _ => 65,
    }
}

/// flock(1)'s exit status for a command it cannot start: out of memory
/// (`EX_OSERR`), anything else (`EX_UNAVAILABLE`).
pub(crate) fn exec_failure_status(err: &io::Error) -> u8 {
    match err.raw_os_error() {
        Some(libc::ENOMEM) => 71,
        _ => 69,
    }
}

/// Whether flock(2) was refused on a read-only descriptor in the way NFS does
/// (EIO, EBADF), which flock(1) answers by reopening the file read-write.
pub(crate) fn is_read_only_refusal(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EIO | libc::EBADF))
}
