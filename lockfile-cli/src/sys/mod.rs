//! The platform seam: everything that differs between operating systems
//! (processes, signals, the terminal, descriptors, flock(2)) is behind these
//! names, one module per platform: `unix` and `windows`.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "etcd")]
use std::sync::mpsc::channel;
use std::sync::mpsc::{Receiver, Sender};
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
    /// A regular file, whose content may say who holds the lock.
    pub(crate) regular: bool,
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

/// Ending the command from outside, while `supervise` waits for it: what
/// `run --etcd` does when its lease is lost. On [`Ending::Now`] the command's
/// group gets SIGTERM, and SIGKILL if it is still running `grace` later.
pub(crate) struct Stop {
    pub(crate) events: Receiver<Ending>,
    /// `supervise` says here that the command exited, so no signal follows.
    pub(crate) exited: Sender<Ending>,
    pub(crate) grace: Duration,
    fired: Arc<AtomicBool>,
}

/// What the thread that ends the command hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// End the command.
    Now,
    /// The command exited by itself: nothing more to do.
    Exited,
}

impl Stop {
    /// A stop with its `grace` before SIGKILL, and the sender that fires it.
    #[cfg(feature = "etcd")]
    pub(crate) fn new(grace: Duration) -> (Self, Sender<Ending>) {
        let (fire, events) = channel();
        let stop = Self {
            events,
            exited: fire.clone(),
            grace,
            fired: Arc::new(AtomicBool::new(false)),
        };
        (stop, fire)
    }

    /// Whether it fired: the command got SIGTERM from us.
    #[cfg(feature = "etcd")]
    pub(crate) fn fired(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.fired)
    }

    pub(crate) fn mark_fired(&self) {
        self.fired.store(true, Ordering::SeqCst);
    }
}
