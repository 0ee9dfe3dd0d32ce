//! Taking a lock: one try, then waiting as the options say, then writing the
//! holder's content (semantics 1, 3, 4, 6, 10, 11).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fair::{self, Ticket};
use crate::open::{Identified, READ_ONLY, identify, identify_locked, open_lock_file};
use crate::sys::{self, Access};
use crate::template::Template;
use crate::wait::Waiting;
use crate::{LockError, held, holder};

/// How long to wait for a lock that is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until the lock is free.
    Forever,
    /// Give up after this long; zero means a single try.
    For(Duration),
}

impl Wait {
    /// When to give up, if a wait starting at `started` ever should; a deadline
    /// too far to represent is no deadline.
    pub(crate) fn deadline(self, started: Instant) -> Option<Instant> {
        match self {
            Self::Forever => None,
            Self::For(timeout) => started.checked_add(timeout),
        }
    }
}

/// What to take and how: everything but the path and the wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The rendered content; written only by an exclusive holder.
    pub(crate) content: &'a str,
    pub(crate) access: Access,
    /// Permission bits of a lock file we create.
    pub(crate) mode: u32,
}

/// What the first, non-blocking try found.
pub(crate) enum FirstTry {
    /// The lock is ours and its content written.
    Locked(Identified),
    /// Someone holds it; this descriptor does not hold it, but can read it.
    Held(Identified),
}

/// Opens `path` and tries its lock once; on success, writes the content.
pub(crate) fn try_once(path: &Path, request: Request<'_>) -> Result<FirstTry, LockError> {
    match try_take(path, request)? {
        FirstTry::Locked(locked) => finish(path, locked, request).map(FirstTry::Locked),
        held @ FirstTry::Held(_) => Ok(held),
    }
}

/// [`try_once`] without writing the content: a `Locked` file is locked and
/// identified, for the caller to [`finish`] (or let go: the fair mode's
/// newcomer behind queued waiters).
pub(crate) fn try_take(path: &Path, request: Request<'_>) -> Result<FirstTry, LockError> {
    loop {
        let file = open_lock_file(path, request.mode)?;
        let locked =
            sys::try_lock(&file, request.access).map_err(|err| LockError::io(path, err))?;
        if !locked {
            // A FIFO or device held by someone else is still refused as what it is.
            return identify(path, file).map(FirstTry::Held);
        }
        // Removed between our open and our lock: try the file there now.
        if let Some(locked) = identify_locked(path, file, false)? {
            return Ok(FirstTry::Locked(locked));
        }
    }
}

/// A lock just taken: the locked file, content written, and in fair mode the
/// ticket to keep until it is released.
pub(crate) struct Taken {
    pub(crate) locked: Identified,
    pub(crate) ticket: Option<Ticket>,
}

/// Locks `path` and writes the rendered `template` into it, waiting as `wait`
/// says, in `fair` mode or not; the calling thread blocks while it waits.
///
/// The template is rendered before the file is opened, so nothing about it can
/// fail once the lock is held.
pub(crate) fn acquire(
    path: &Path,
    template: &Template,
    access: Access,
    wait: Wait,
    mode: u32,
    fair: bool,
) -> Result<Taken, LockError> {
    if fair {
        fair::check_supported(path)?;
    }
    // Readers write nothing, so they need not pay for `getpid` and formatting.
    let content = match access {
        Access::Exclusive => template.render(),
        Access::Shared => String::new(),
    };
    let request = Request {
        content: &content,
        access,
        mode,
    };
    let first = if fair {
        fair::first_try(path, request)?
    } else {
        try_once(path, request)?
    };
    let held_elsewhere = match first {
        FirstTry::Locked(locked) => {
            return Ok(Taken {
                locked,
                ticket: None,
            });
        }
        FirstTry::Held(held_elsewhere) => held_elsewhere,
    };
    // The clock starts at the first failed try: the open before it is
    // microseconds, and the uncontended path need not read the clock.
    let started = Instant::now();
    if wait == Wait::For(Duration::ZERO) {
        return Err(contended(path, &held_elsewhere, access));
    }
    let deadline = wait.deadline(started);
    // Only a wait that can never end is refused, and only where that is
    // certain (semantic 11); a timed wait just times out.
    if deadline.is_none() && held::in_locked_scope(held_elsewhere.id) {
        return Err(LockError::WouldDeadlock {
            path: path.to_path_buf(),
        });
    }
    let ticket = if fair {
        Some(Ticket::take(path, access, mode)?)
    } else {
        None
    };
    let locked = match deadline {
        None => {
            if let Some(ticket) = &ticket {
                ticket.wait_turn()?;
            }
            wait_on(path, held_elsewhere.file, access, mode)?
        }
        Some(deadline) => {
            let waiting = match &ticket {
                Some(ticket) => Waiting::start_fair(path, ticket.turn(), access, mode)?,
                None => Waiting::start(path, held_elsewhere.id, access, mode)?,
            };
            match waiting.wait_until(deadline) {
                Some(outcome) => outcome?,
                // Dropping the ticket on return leaves the queue at once.
                None => return Err(timed_out(path, wait, started, &held_elsewhere, access)),
            }
        }
    };
    let locked = finish(path, locked, request)?;
    Ok(Taken { locked, ticket })
}

/// Blocks on `file`'s own descriptor until its lock is ours, and starts over
/// on the file at `path` for as long as the one locked turns out to have lost
/// its name while we waited.
pub(crate) fn wait_on(
    path: &Path,
    mut file: File,
    access: Access,
    mode: u32,
) -> Result<Identified, LockError> {
    loop {
        let waiting = sys::WaitingDescriptor::register(&file);
        sys::lock(&file, access).map_err(|err| LockError::io(path, err))?;
        drop(waiting);
        match identify_locked(path, file, true)? {
            Some(locked) => return Ok(locked),
            None => file = open_lock_file(path, mode)?,
        }
    }
}

/// Completes a lock just taken and identified: an exclusive holder writes its
/// content; a shared one leaves the file as it is (readers would overwrite
/// each other), and so does one that opened it read-only. On error, dropping the file releases the lock.
pub(crate) fn finish(
    path: &Path,
    locked: Identified,
    request: Request<'_>,
) -> Result<Identified, LockError> {
    if request.access == Access::Exclusive && request.mode & READ_ONLY == 0 {
        write_content(&locked, request.content.as_bytes())
            .map_err(|err| LockError::io(path, err))?;
    }
    Ok(locked)
}

pub(crate) fn contended(path: &Path, held_elsewhere: &Identified, access: Access) -> LockError {
    LockError::Contended {
        path: path.to_path_buf(),
        holder: holder::look(&held_elsewhere.file, held_elsewhere.id, access),
    }
}

pub(crate) fn timed_out(
    path: &Path,
    wait: Wait,
    started: Instant,
    held_elsewhere: &Identified,
    access: Access,
) -> LockError {
    let Wait::For(timeout) = wait else {
        unreachable!("only a wait with a deadline times out")
    };
    LockError::Timeout {
        path: path.to_path_buf(),
        timeout,
        waited: started.elapsed(),
        holder: holder::look(&held_elsewhere.file, held_elsewhere.id, access),
    }
}

/// Writes at offset 0 and cuts the file to the content's length if it was
/// longer, so an old content never survives and nothing is ever appended. The
/// length is the one `identify` read under the lock, so the cut is skipped,
/// saving a syscall, only when no byte past the content can remain.
fn write_content(locked: &Identified, content: &[u8]) -> std::io::Result<()> {
    sys::write_all_at(&locked.file, content, 0)?;
    let len = content.len() as u64;
    if locked.len > len {
        locked.file.set_len(len)?;
    }
    Ok(())
}
