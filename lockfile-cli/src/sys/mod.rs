//! The platform seam: everything that differs between operating systems
//! (processes, signals, the terminal, descriptors, flock(2)) is behind these
//! names. Unix is the only platform so far; Windows gets its own module.

use std::fs::File;
use std::io;
use std::time::Instant;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

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
