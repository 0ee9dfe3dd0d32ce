//! flock(2) on a descriptor: one try, as long as it takes, or until a deadline.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::ffi::{self, ThreadSignaller};
use crate::sys::{Kind, Locked, Wait};

/// The signal that ends a timed wait, as flock(1)'s timer does.
const TIMER_SIGNAL: i32 = libc::SIGALRM;

/// If the first signal came just before the wait entered flock(2), it was
/// spent; the timer sends it again this often until the waiter has noticed.
const RESEND: Duration = Duration::from_millis(10);

/// Takes (or, for [`Kind::Unlock`], drops) the lock on `fd`'s open file
/// description, waiting as `wait` says; `EINTR` is retried.
///
/// A timed wait blocks in flock(2) on this very descriptor and is interrupted
/// by a signal at the deadline, as flock(1) does, rather than blocking in a
/// helper thread: the descriptor may be shared with the process that started
/// us (`flock 9`), and a helper's flock(2) cannot be called off, so a lock
/// granted after we reported the timeout would stay with that process. With a
/// signal, the kernel either grants the lock or returns `EINTR`, never both.
pub(crate) fn lock(fd: BorrowedFd<'_>, kind: Kind, wait: Wait) -> io::Result<Locked> {
    let (blocking, nonblocking) = match kind {
        Kind::Exclusive => (
            FlockOperation::LockExclusive,
            FlockOperation::NonBlockingLockExclusive,
        ),
        Kind::Shared => (
            FlockOperation::LockShared,
            FlockOperation::NonBlockingLockShared,
        ),
        Kind::Unlock => (FlockOperation::Unlock, FlockOperation::Unlock),
    };
    match try_once(fd, nonblocking)? {
        Locked::Busy => {}
        locked => return Ok(locked),
    }
    match wait {
        Wait::Not => Ok(Locked::Busy),
        Wait::Forever => loop {
            match flock(fd, blocking) {
                Ok(()) => return Ok(Locked::Yes),
                Err(Errno::INTR) => {}
                Err(err) => return Err(err.into()),
            }
        },
        Wait::Until(deadline) => wait_until(fd, blocking, deadline),
    }
}

fn try_once(fd: BorrowedFd<'_>, operation: FlockOperation) -> io::Result<Locked> {
    loop {
        match flock(fd, operation) {
            Ok(()) => return Ok(Locked::Yes),
            Err(Errno::WOULDBLOCK) => return Ok(Locked::Busy),
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

fn wait_until(
    fd: BorrowedFd<'_>,
    operation: FlockOperation,
    deadline: Instant,
) -> io::Result<Locked> {
    let saved = ffi::interrupt_with(TIMER_SIGNAL)?;
    // An inherited mask that blocks the signal would make the wait endless.
    let was_blocked = ffi::block_in_this_thread(TIMER_SIGNAL, false)?;
    let outcome = ThreadSignaller::while_running(|waiter| {
        let expired = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let timer = {
            let expired = Arc::clone(&expired);
            let waiter = waiter.clone();
            std::thread::Builder::new()
                .name("lockfile-timer".to_owned())
                .spawn(move || {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if stopped.recv_timeout(left) != Err(RecvTimeoutError::Timeout) {
                        return;
                    }
                    expired.store(true, Ordering::SeqCst);
                    loop {
                        waiter.send(TIMER_SIGNAL);
                        if stopped.recv_timeout(RESEND) != Err(RecvTimeoutError::Timeout) {
                            return;
                        }
                    }
                })?
        };
        let outcome = loop {
            // Checked before each try: a grant that races the deadline is kept
            // (it is ours), but no try starts after it.
            if expired.load(Ordering::SeqCst) {
                break Ok(Locked::TimedOut);
            }
            match flock(fd, operation) {
                Ok(()) => break Ok(Locked::Yes),
                Err(Errno::INTR) => {}
                Err(err) => break Err(err.into()),
            }
        };
        drop(stop);
        let _ = timer.join();
        outcome
    });
    // Only now that the timer thread is gone can no stray signal arrive.
    if was_blocked {
        let _ = ffi::block_in_this_thread(TIMER_SIGNAL, true);
    }
    // The do-nothing handler stays, as flock(1)'s timer handler does: a
    // SIGALRM that comes later (a command's `kill -ALRM $PPID`) does not
    // end us. The command gets SIGALRM at its default: exec resets handlers.
    let _ = saved;
    outcome
}
