//! Windows: the same lock as the library's and zc.lockfile's (`LockFileEx` on
//! byte 0), the console's Ctrl-C and Ctrl-Break, exit codes of 32 bits.
//!
//! What Windows does not have, and what stands in for it:
//!
//! - A lock belongs to the process that took it, never to a child given a
//!   copy of the handle. So `run` and `flock` keep the lock themselves while
//!   the command runs and release it when it has ended; there is nothing for
//!   the command to inherit (`-o` changes nothing), and a `lockfile` that is
//!   killed releases the lock while its command may go on.
//! - No signals: Ctrl-C and Ctrl-Break go to every process of the console,
//!   the command decides, and `lockfile` waits for it to end.
//! - No numbered descriptors handed down by a shell: `flock 9` is refused.
//! - No `exec`: `flock -F` runs the command and exits with its exit code.
//! - A timed wait blocks in `LockFileEx` in a helper thread on a second
//!   handle of the file (a blocked `LockFileEx` cannot be called off), which
//!   is kept open, holding the lock, until `lockfile` exits.

mod ffi;

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsHandle, BorrowedHandle};
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use windows_sys::Win32::Foundation::{
    ERROR_DISK_FULL, ERROR_LOCK_VIOLATION, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_LOCKED,
    ERROR_OUTOFMEMORY, ERROR_TOO_MANY_OPEN_FILES, ERROR_WRITE_PROTECT, GENERIC_READ,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_TYPE_DISK, FILE_TYPE_PIPE, LOCKFILE_EXCLUSIVE_LOCK,
    LOCKFILE_FAIL_IMMEDIATELY, SECURITY_IDENTIFICATION,
};

use crate::sys::{
    Ended, Ending, Kind, Locked, NotStarted, Opened, Refused, Stop, Supervision, Wait,
};

/// A handle, borrowed: what locks are taken on.
pub(crate) type Fd<'a> = BorrowedHandle<'a>;

/// The handle of an open file (or of a `LockFile`).
pub(crate) fn fd_of(file: &impl AsHandle) -> Fd<'_> {
    file.as_handle()
}

/// Windows shells hand no numbered descriptors down: `flock 9` names nothing.
pub(crate) fn descriptor(_number: i32) -> Option<Fd<'static>> {
    None
}

/// Nothing to do: a child given the handle would not hold the lock (see the
/// module's documentation), and handles are opened not inheritable.
#[allow(clippy::unnecessary_wraps)] // Unix's can fail.
pub(crate) fn set_inheritable(_fd: Fd<'_>, _inheritable: bool) -> io::Result<()> {
    Ok(())
}

/// No `exec` on Windows: runs `command` while we hold the lock, then exits
/// with its exit code; returns only if it could not be started.
pub(crate) fn exec(command: &mut Command) -> io::Error {
    match command.spawn().and_then(|mut child| child.wait()) {
        Ok(status) => match ended(status) {
            Ended::Code(code) | Ended::Signal(code) => std::process::exit(code),
        },
        Err(err) => err,
    }
}

/// How a finished command ended: its exit code, or, for a code that does not
/// fit in the 8 bits a Unix status has (an `NTSTATUS` such as
/// `STATUS_CONTROL_C_EXIT` for a process that Ctrl-C ended), "ended by"
/// that code, which [`die_by`] passes on whole.
pub(crate) fn ended(status: ExitStatus) -> Ended {
    match status.code() {
        Some(code @ 0..=255) => Ended::Code(code),
        Some(code) => Ended::Signal(code),
        None => Ended::Code(1),
    }
}

/// Exits with the command's whole 32-bit exit code (see [`ended`]).
pub(crate) fn die_by(code: i32) -> ! {
    std::process::exit(code)
}

/// flock(1)'s exit statuses for a file it cannot open, in Windows' codes.
pub(crate) fn open_failure_status(err: &io::Error) -> u8 {
    match win32(err) {
        Some(ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_TOO_MANY_OPEN_FILES) => 71,
        Some(ERROR_WRITE_PROTECT | ERROR_DISK_FULL) => 73,
        _ => 66,
    }
}

pub(crate) fn lock_failure_status(err: &io::Error) -> u8 {
    match win32(err) {
        Some(ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY) => 71,
        _ => 65,
    }
}

pub(crate) fn exec_failure_status(err: &io::Error) -> u8 {
    match win32(err) {
        Some(ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY) => 71,
        _ => 69,
    }
}

/// NFS's refusal of a lock on a read-only descriptor has no Windows
/// counterpart: `LockFileEx` works on a handle opened to read.
pub(crate) fn is_read_only_refusal(_err: &io::Error) -> bool {
    false
}

fn win32(err: &io::Error) -> Option<u32> {
    err.raw_os_error().map(i32::cast_unsigned)
}

/// Takes (or, for [`Kind::Unlock`], drops) the lock on byte 0 of `fd`'s file:
/// the library's and zc.lockfile's lock. Windows locks are mandatory, so
/// while it is held nobody else, the command included, can read or write
/// byte 0 of the file: lock a lock file, not the data it guards.
pub(crate) fn lock(fd: Fd<'_>, kind: Kind, wait: Wait) -> io::Result<Locked> {
    let flags = match kind {
        Kind::Exclusive => LOCKFILE_EXCLUSIVE_LOCK,
        Kind::Shared => 0,
        Kind::Unlock => {
            return match ffi::unlock_byte_0(fd) {
                // Not locked through this handle: nothing to drop, as flock(2) says.
                Err(err) if not_locked(&err) => Ok(Locked::Yes),
                other => other.map(|()| Locked::Yes),
            };
        }
    };
    match ffi::lock_byte_0(fd, flags | LOCKFILE_FAIL_IMMEDIATELY) {
        Ok(()) => return Ok(Locked::Yes),
        Err(err) if win32(&err) != Some(ERROR_LOCK_VIOLATION) => return Err(err),
        Err(_) => {}
    }
    match wait {
        Wait::Not => Ok(Locked::Busy),
        Wait::Forever => ffi::lock_byte_0(fd, flags).map(|()| Locked::Yes),
        Wait::Until(deadline) => wait_until(fd, flags, deadline),
    }
}

/// `ERROR_NOT_LOCKED` on Windows, `ERROR_LOCK_VIOLATION` under Wine 8.
fn not_locked(err: &io::Error) -> bool {
    matches!(win32(err), Some(ERROR_NOT_LOCKED | ERROR_LOCK_VIOLATION))
}

/// Handles that hold a lock taken by a timed wait, open until we exit.
static KEPT: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// A helper thread blocks in `LockFileEx` on a second handle of the file,
/// while we wait for it until the deadline. A lock granted in time stays with
/// that handle, kept open until `lockfile` exits; one granted too late is let
/// go at once by the helper, which nobody waits for any more.
fn wait_until(fd: Fd<'_>, flags: u32, deadline: std::time::Instant) -> io::Result<Locked> {
    let second = ffi::reopen(fd, GENERIC_READ)?;
    let abandoned = Arc::new(AtomicBool::new(false));
    let (granted, outcome) = mpsc::channel();
    let helper_abandoned = Arc::clone(&abandoned);
    std::thread::Builder::new()
        .name("lockfile-wait".to_owned())
        .spawn(move || {
            let locked = ffi::lock_byte_0(second.as_handle(), flags).map(|()| second);
            // A send that fails, or a lock nobody waits for, drops the file,
            // which releases the lock.
            if !helper_abandoned.load(Ordering::SeqCst) {
                let _ = granted.send(locked);
            }
        })?;
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match outcome.recv_timeout(left) {
        Ok(Ok(file)) => {
            KEPT.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(file);
            Ok(Locked::Yes)
        }
        Ok(Err(err)) => Err(err),
        Err(_) => {
            abandoned.store(true, Ordering::SeqCst);
            // Granted right at the deadline: ours after all.
            match outcome.try_recv() {
                Ok(Ok(file)) => {
                    KEPT.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(file);
                    Ok(Locked::Yes)
                }
                _ => Ok(Locked::TimedOut),
            }
        }
    }
}

/// Opens `path` as flock(1) does: read-only (read-write if asked), created
/// if missing, never truncated, symlinks followed. Other processes may read,
/// write, rename and delete it, as on Unix. A directory cannot be locked on
/// Windows (`LockFileEx` refuses it); a named pipe is refused as a FIFO is.
pub(crate) fn open_like_flock(path: &Path, read_write: bool) -> Result<Opened, Refused> {
    let mut options = OpenOptions::new();
    // `write` for std's check that `create` may be asked; `access_mode` then
    // asks for reading alone unless writing is wanted.
    options.read(true).write(true).create(true);
    if !read_write {
        options.access_mode(GENERIC_READ);
    }
    options
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .security_qos_flags(SECURITY_IDENTIFICATION);
    settle(options.open(path).map_err(Refused::Io)?)
}

fn settle(file: File) -> Result<Opened, Refused> {
    if ffi::file_type(file.as_handle()) == FILE_TYPE_PIPE {
        return Err(Refused::Fifo);
    }
    Ok(Opened { file })
}

/// Whether this user may read and write `path`.
pub(crate) fn may_read_and_write(path: &Path) -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .open(path)
        .is_ok()
}

/// What the holder wrote, read from byte 1: byte 0 is the locked byte, which
/// Windows lets nobody but the holder read (it is the content's leading
/// space, which callers trim anyway).
pub(crate) fn read_start(fd: Fd<'_>) -> Option<String> {
    const MAX: usize = 4096;
    let mut buf = vec![0; MAX];
    let len = ffi::read_at(fd, &mut buf, 1).ok()?;
    buf.truncate(len);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Whether `fd` is a regular file: on a disk, neither a directory nor a
/// reparse point.
pub(crate) fn is_regular(fd: Fd<'_>) -> bool {
    ffi::file_type(fd) == FILE_TYPE_DISK
        && ffi::attributes(fd).is_ok_and(|attributes| {
            attributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT) == 0
        })
}

/// `-c LINE`: the line as `%COMSPEC%` (cmd.exe) runs it, `/S /C "LINE"`, the
/// line passed verbatim (cmd.exe has quoting rules of its own).
pub(crate) fn shell_command(line: &OsStr) -> Command {
    let shell = std::env::var_os("COMSPEC")
        .filter(|shell| !shell.is_empty())
        .unwrap_or_else(|| "cmd.exe".into());
    let mut command = Command::new(shell);
    let mut argument = std::ffi::OsString::from("/S /C \"");
    argument.push(line);
    argument.push("\"");
    command.raw_arg(argument);
    command
}

/// What Windows reports for a process that Ctrl-C or Ctrl-Break ended.
const STATUS_CONTROL_C_EXIT: u32 = 0xC000_013A;

/// Nothing to do at start: Windows has no signal dispositions to inherit
/// and no group leaders of ours.
pub(crate) fn at_start(_argv0: Option<&OsStr>) {}

/// No SIGALRM on Windows: nothing to catch.
pub(crate) fn catch_timer_signal() {}

/// A closed pipe on stdout: Windows has no SIGPIPE to die by; `code` stands.
pub(crate) fn broken_pipe(code: u8) -> u8 {
    code
}

/// Nothing to do: Windows starts programs one way only.
pub(crate) fn start_as_flock_would(_command: &mut Command) {}

/// Runs `command` and waits until it ends. The lock stays ours meanwhile;
/// `inherit` has no meaning here (see the module's documentation). `tied`
/// is not honoured: tying a command's processes to us would take a job
/// object, which this does not make (the README says so). Ctrl-C and
/// Ctrl-Break reach the command through the console, and we survive them;
/// one that came before the command started ends us as it would have.
/// `stop`, if given, ends it by its deadline.
pub(crate) fn supervise(
    mut command: Command,
    supervision: Supervision<'_>,
) -> Result<Ended, NotStarted> {
    ffi::survive_console_interrupts().map_err(NotStarted::Setup)?;
    if ffi::interrupted() {
        return Err(NotStarted::Signal(STATUS_CONTROL_C_EXIT.cast_signed()));
    }
    // Neither applies here (see above).
    let _ = (supervision.inherit, supervision.tied);
    let mut child = command.spawn().map_err(NotStarted::Spawn)?;
    let ender = match supervision.stop {
        Some(stop) => match end_when_due(stop, &child) {
            Ok(ender) => Some(ender),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotStarted::Setup(err));
            }
        },
        None => None,
    };
    let status = child.wait();
    if let Some((exited, ender)) = ender {
        let _ = exited.send(Ending::Exited);
        let _ = ender.join();
    }
    Ok(ended(status.map_err(NotStarted::Setup)?))
}

/// A thread that ends the command by `stop`'s deadline. Windows has no
/// SIGTERM to ask it first, and the console's Ctrl-Break would reach us all:
/// it is terminated at the deadline (exit code 1), with no grace period.
fn end_when_due(
    stop: Stop,
    child: &std::process::Child,
) -> io::Result<(mpsc::Sender<Ending>, std::thread::JoinHandle<()>)> {
    let process = child.as_handle().try_clone_to_owned()?;
    let exited = stop.exited.clone();
    let ender = std::thread::spawn(move || {
        // No SIGTERM to send first, and wait `grace` after.
        let _ = stop.grace;
        loop {
            if stop.deadline.passed() {
                stop.deadline.mark_killed(false);
                let _ = ffi::terminate(process.as_handle(), 1);
                return;
            }
            let left = stop
                .deadline
                .kill_by()
                .map_or(std::time::Duration::ZERO, |kill_by| {
                    kill_by.saturating_duration_since(std::time::Instant::now())
                });
            match stop.events.recv_timeout(left) {
                Ok(Ending::Lost) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(Ending::Exited) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    Ok((exited, ender))
}
