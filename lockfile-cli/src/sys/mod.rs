//! The platform seam: everything that differs between operating systems
//! (processes, signals, the terminal, descriptors, flock(2)) is behind these
//! names, one module per platform: `unix` and `windows`.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

/// Which lock to take on a descriptor, or to drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Exclusive,
    Shared,
    Unlock,
}

/// How long to wait for a lock held by someone else.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    Not,
    Forever,
    Until(Instant),
}

/// What a lock attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Taken (or dropped, for [`Kind::Unlock`]).
    Yes,
    /// Held elsewhere, and we were not to wait.
    Busy,
    /// Held elsewhere until the deadline; not ours.
    TimedOut,
}

/// A file opened for locking.
pub(crate) struct Opened {
    pub(crate) file: File,
}

/// Why a file was not opened for locking.
#[derive(Debug)]
pub(crate) enum Refused {
    Io(io::Error),
    /// A FIFO: opening it for reading would wait for a writer.
    Fifo,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Code(i32),
    Signal(i32),
}

/// Why the command did not run.
#[derive(Debug)]
pub(crate) enum NotStarted {
    /// A signal that would have ended us came before it started.
    Signal(i32),
    /// It could not be started (not found, not executable...).
    Spawn(io::Error),
    /// Catching signals or waiting failed.
    Setup(io::Error),
}

/// What the supervisor is given besides the command: what the backend says
/// of the lock it runs under.
pub(crate) struct Supervision<'a> {
    /// The lock's descriptor, for the command to inherit (and so hold the
    /// lock too); `None` when it must not, or cannot.
    pub(crate) inherit: Option<Fd<'a>>,
    /// The lock ends with `lockfile`: the command's process group must end
    /// with it, however `lockfile` dies, and what the command leaves behind
    /// in its group is killed when it ends.
    pub(crate) tied: bool,
    /// For a lock that can be lost while held: when the command must be dead.
    pub(crate) stop: Option<Stop>,
}

/// Ending the command from outside, while `supervise` waits for it: what
/// `run --etcd` needs when its lease cannot be renewed. The command's group
/// gets SIGTERM `grace` before the deadline and SIGKILL at the deadline (at
/// once when it is already past); the deadline is read again each time,
/// since a renewal moves it later.
pub(crate) struct Stop {
    /// Wakes the thread that ends the command: the backend learnt of a loss,
    /// or `supervise` says that the command exited.
    pub(crate) events: Receiver<Ending>,
    pub(crate) exited: Sender<Ending>,
    pub(crate) grace: Duration,
    pub(crate) deadline: Arc<Deadline>,
}

/// By when the command must be dead, and whether we ended it.
pub(crate) struct Deadline {
    kill_by: Box<dyn Fn() -> Option<Instant> + Send + Sync>,
    fired: AtomicBool,
    late: AtomicBool,
}

impl Deadline {
    /// The instant the command must be dead by; `None` once the lock is
    /// known to be lost (it must be dead now).
    pub(crate) fn kill_by(&self) -> Option<Instant> {
        (self.kill_by)()
    }

    /// Whether it has come: the lock is lost, or as good as.
    pub(crate) fn passed(&self) -> bool {
        self.kill_by()
            .is_none_or(|kill_by| Instant::now() >= kill_by)
    }

    /// Whether the command got a signal from us for it.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    pub(crate) fn mark_fired(&self) {
        self.fired.store(true, Ordering::SeqCst);
    }

    /// Whether the command was killed only after the deadline had passed:
    /// we were stopped (or starved) past it, or the lock was lost at once
    /// (the server ended it). It may then have run alongside another holder.
    pub(crate) fn late(&self) -> bool {
        self.late.load(Ordering::SeqCst)
    }

    /// The command is being killed now, `late` or not.
    pub(crate) fn mark_killed(&self, late: bool) {
        self.mark_fired();
        if late {
            self.late.store(true, Ordering::SeqCst);
        }
    }
}

/// What the thread that ends the command hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The lock is lost, or its deadline may have moved: look again.
    #[allow(dead_code)] // only the etcd backend's locks can be lost
    Lost,
    /// The command exited by itself: nothing more to do.
    Exited,
}

impl Stop {
    /// A stop with `grace` between SIGTERM and SIGKILL and the deadline
    /// `kill_by` tells (`None`: now), and the sender that wakes it.
    #[allow(dead_code)] // only the etcd backend's locks can be lost
    pub(crate) fn new(
        grace: Duration,
        kill_by: impl Fn() -> Option<Instant> + Send + Sync + 'static,
    ) -> (Self, Sender<Ending>) {
        let (wake, events) = channel();
        let stop = Self {
            events,
            exited: wake.clone(),
            grace,
            deadline: Arc::new(Deadline {
                kill_by: Box::new(kill_by),
                fired: AtomicBool::new(false),
                late: AtomicBool::new(false),
            }),
        };
        (stop, wake)
    }

    /// The deadline, to ask afterwards whether it fired.
    pub(crate) fn deadline(&self) -> Arc<Deadline> {
        Arc::clone(&self.deadline)
    }
}
