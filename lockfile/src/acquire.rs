//! Taking a lock: one try, then waiting as the options say, then checking
//! that the lock is still the one at the path and writing the holder's
//! content (semantics 1, 3, 4, 6, 10, 11, 13, 17). Sync and async callers go
//! through the same steps: [`try_once`], a wait, [`conclude`].

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fair::{self, Ticket};
use crate::open::{Identified, READ_ONLY, identify, inspect, open_lock_file, path_names};
use crate::sys::{self, Access, FileId};
use crate::template::Template;
use crate::wait;
use crate::{Holder, LockError, held, holder};

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

/// The content a lock with `access` writes: readers write nothing, so they
/// need not pay for `getpid`, the host name and formatting.
pub(crate) fn content_for(template: &Template, access: Access) -> String {
    match access {
        Access::Exclusive => template.render(),
        Access::Shared => String::new(),
    }
}

/// A lock just taken on a descriptor of ours that no guard owns yet.
///
/// Dropping it unlocks explicitly before closing (semantic 17): a child
/// forked since the lock was taken has a copy of the descriptor, and closing
/// ours alone would leave the lock to that copy. Only a guard, whose
/// descriptor a child may legitimately share, releases by closing. A
/// descriptor a wait blocked on stays registered (closed in any child forked
/// meanwhile) until a guard owns it.
#[derive(Debug)]
pub(crate) struct Taken {
    /// `None` once a guard owns it.
    file: Option<File>,
    pub(crate) id: FileId,
    /// Its length when taken, exact while we hold the lock.
    len: u64,
    /// Whether it had a name then: no link left means it was removed or
    /// replaced (a file with more than one is refused).
    named: bool,
    registered: Option<sys::WaitingDescriptor>,
}

impl Taken {
    /// Identifies `file`, whose lock was just taken; on error, the lock is
    /// let go as any unwanted one.
    pub(crate) fn new(
        path: &Path,
        file: File,
        registered: Option<sys::WaitingDescriptor>,
    ) -> Result<Self, LockError> {
        let mut taken = Self {
            file: Some(file),
            id: FileId {
                volume: 0,
                index: 0,
            },
            len: 0,
            named: false,
            registered,
        };
        (taken.id, taken.len, taken.named) = inspect(path, taken.file())?;
        Ok(taken)
    }

    pub(crate) fn file(&self) -> &File {
        self.file.as_ref().expect("taken until a guard owns it")
    }

    /// Lets the lock go (explicitly, before anything else) and keeps the
    /// descriptor to read who holds the lock: the fair mode's newcomer that
    /// found the lock free but waiters queued for it.
    pub(crate) fn into_held(mut self, path: &Path) -> Result<Identified, LockError> {
        let file = self.file.take().expect("taken until a guard owns it");
        let unlocked = sys::unlock(&file);
        drop(self.registered.take());
        unlocked.map_err(|err| LockError::io(path, err))?;
        Ok(Identified { file, id: self.id })
    }

    /// The descriptor, now a guard's, and its identity.
    pub(crate) fn into_guard(mut self) -> (File, FileId) {
        let file = self.file.take().expect("taken until a guard owns it");
        // The registration ends with `self`, after the guard owns the file.
        (file, self.id)
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = sys::unlock(&file);
            // Unregistered before the close, so that no child can close a
            // number reused by another open meanwhile; a copy made now holds
            // no lock anymore.
            drop(self.registered.take());
            drop(file);
        }
    }
}

/// What the first, non-blocking try found.
pub(crate) enum FirstTry {
    /// The lock is ours and its content written.
    Locked(Taken),
    /// Someone holds it; this descriptor does not hold it, but can read it.
    Held(Identified),
    /// A fair newcomer's: fair waiters are queued for it, which it does not
    /// overtake; the lock may be free. This descriptor does not hold it.
    Queued(Identified),
}

impl FirstTry {
    /// The descriptor of a lock not ours, and whether fair waiters came
    /// first; `Err` with the lock if it is ours.
    pub(crate) fn not_ours(self) -> Result<(Identified, bool), Taken> {
        match self {
            Self::Locked(taken) => Err(taken),
            Self::Held(held) => Ok((held, false)),
            Self::Queued(held) => Ok((held, true)),
        }
    }
}

/// Opens `path` and tries its lock once; on success, writes the content.
pub(crate) fn try_once(path: &Path, request: Request<'_>) -> Result<FirstTry, LockError> {
    match try_take(path, request)? {
        FirstTry::Locked(taken) => finish(path, taken, request).map(FirstTry::Locked),
        not_ours => Ok(not_ours),
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
        let taken = Taken::new(path, file, None)?;
        // Removed between our open and our lock: try the file there now. (A
        // rename in those microseconds goes unseen: checking the path would
        // cost a fifth of an uncontended take; the documentation says so.)
        if taken.named {
            return Ok(FirstTry::Locked(taken));
        }
    }
}

/// A lock acquired: taken, content written, and in fair mode the ticket to
/// keep until it is released.
pub(crate) struct Acquired {
    pub(crate) taken: Taken,
    pub(crate) ticket: Option<Ticket>,
}

/// The first try of `fair` mode or the default one.
pub(crate) fn first_try(
    path: &Path,
    request: Request<'_>,
    fair: bool,
) -> Result<FirstTry, LockError> {
    if fair {
        fair::first_try(path, request)
    } else {
        try_once(path, request)
    }
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
) -> Result<Acquired, LockError> {
    if fair {
        fair::check_supported(path)?;
    }
    let content = content_for(template, access);
    let request = Request {
        content: &content,
        access,
        mode,
    };
    let mut started = None;
    // A fair waiter's place, taken as its wait starts (by `wait::start_fair`
    // for a timed wait). A wait that starts over does so because the path
    // names another lock file now, whose queue is another file too: the
    // ticket is given back and a new one taken there.
    let mut ticket = None;
    loop {
        let (held_elsewhere, queued) = match first_try(path, request, fair)?.not_ours() {
            Err(taken) => return Ok(Acquired { taken, ticket }),
            Ok(not_ours) => not_ours,
        };
        // The clock starts at the first failed try: the open before it is
        // microseconds, and the uncontended path need not read the clock.
        let started = *started.get_or_insert_with(Instant::now);
        if wait == Wait::For(Duration::ZERO) {
            return Err(contended(path, &held_elsewhere, access, queued));
        }
        let deadline = wait.deadline(started);
        // Only a wait that can never end is refused, and only where that is
        // certain (semantic 11); a timed wait just times out.
        if deadline.is_none() && held::in_locked_scope(held_elsewhere.id) {
            return Err(LockError::WouldDeadlock {
                path: path.to_path_buf(),
            });
        }
        // A fair waiter's ticket is a new one each wait.
        let taken = match deadline {
            None => {
                if fair {
                    ticket
                        .insert(Ticket::take(path, access, mode)?)
                        .wait_turn()?;
                }
                wait_forever(path, held_elsewhere, request)?
            }
            Some(deadline) => {
                let waited = if Instant::now() < deadline {
                    let waiting = if fair {
                        let (waiting, taken) =
                            wait::start_fair(path, &held_elsewhere, access, mode)?;
                        ticket = Some(taken);
                        waiting
                    } else {
                        wait::start(path, &held_elsewhere, access, mode)?
                    };
                    waiting.wait_until(deadline)
                } else {
                    None // started over, and the time is up
                };
                match waited {
                    Some(outcome) => outcome?,
                    // Dropping the ticket on return leaves the queue at once.
                    None => return Err(timed_out(path, wait, started, &held_elsewhere, access)),
                }
            }
        };
        if let Some(taken) = conclude(path, taken, request)? {
            return Ok(Acquired { taken, ticket });
        }
        ticket = None;
    }
}

/// Blocks the calling thread in the kernel on a new open of the file the
/// first try opened (not of the path, which may name another file by now).
/// The first try's descriptor and the anchor are closed before the wait, so
/// that the hand-over does not wait for their closing.
fn wait_forever(
    path: &Path,
    held_elsewhere: Identified,
    request: Request<'_>,
) -> Result<Taken, LockError> {
    let io = |err| LockError::io(path, err);
    let anchor = sys::Anchor::new(path, &held_elsewhere.file).map_err(io)?;
    drop(held_elsewhere);
    let (file, registered) = anchor.open_registered(request.mode).map_err(io)?;
    drop(anchor);
    lock_registered(path, file, registered, request.access)
}

/// Blocks in the kernel on `file`, registered for forks, until its lock is
/// ours. On error it is unregistered before it is closed, so that no child
/// closes a number another open reused in between.
pub(crate) fn lock_registered(
    path: &Path,
    file: File,
    registered: sys::WaitingDescriptor,
    access: Access,
) -> Result<Taken, LockError> {
    if let Err(err) = sys::lock(&file, access) {
        drop(registered);
        drop(file);
        return Err(LockError::io(path, err));
    }
    Taken::new(path, file, Some(registered))
}

/// Ends every wait, sync or async: the lock is the caller's only if `path`
/// still names the file it got, in which case its content is written;
/// `None` (the lock let go) means the caller starts over with a first try.
pub(crate) fn conclude(
    path: &Path,
    taken: Taken,
    request: Request<'_>,
) -> Result<Option<Taken>, LockError> {
    if !taken.named || !path_names(path, taken.id)? {
        return Ok(None);
    }
    finish(path, taken, request).map(Some)
}

/// Completes a lock just taken and identified: an exclusive holder writes its
/// content; a shared one leaves the file as it is (readers would overwrite
/// each other), and so does one that opened it read-only. On error, the file
/// is as it was and the lock let go.
pub(crate) fn finish(path: &Path, taken: Taken, request: Request<'_>) -> Result<Taken, LockError> {
    if request.access == Access::Exclusive && request.mode & READ_ONLY == 0 {
        write_content(&taken, request.content.as_bytes())
            .map_err(|err| LockError::io(path, err))?;
    }
    Ok(taken)
}

/// A one try refused: the lock is held, or (`fair_waiters_first`) fair
/// waiters are queued for it.
pub(crate) fn contended(
    path: &Path,
    held_elsewhere: &Identified,
    access: Access,
    fair_waiters_first: bool,
) -> LockError {
    LockError::Contended {
        path: path.to_path_buf(),
        holder: Holder {
            fair_waiters_first,
            ..holder::look(&held_elsewhere.file, held_elsewhere.id, access)
        },
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
/// length is the one read under the lock, so the cut is skipped, saving a
/// syscall, only when no byte past the content can remain.
///
/// A write that fails part-way (`EFBIG` past `RLIMIT_FSIZE`, `ENOSPC`) must not
/// leave part of our content naming us in a lock we let go (semantic 13): the
/// previous bytes are put back. Only a write that grows the file can run out
/// of room, so only then are they read first (one `pread`, not paid by the
/// usual same-length content); otherwise the file is cut to nothing.
fn write_content(taken: &Taken, content: &[u8]) -> std::io::Result<()> {
    let file = taken.file();
    let previous = if taken.len > 0 && (content.len() as u64) > taken.len {
        let mut previous = vec![0; usize::try_from(taken.len).unwrap_or(0)];
        let read = sys::read_at(file, &mut previous, 0)?;
        previous.truncate(read);
        Some(previous)
    } else {
        None
    };
    let written = sys::write_all_at(file, content, 0).and_then(|()| {
        let len = content.len() as u64;
        if taken.len > len {
            file.set_len(len)?;
        }
        Ok(())
    });
    if written.is_err() {
        let restored = previous.as_deref().unwrap_or_default();
        let _ = sys::write_all_at(file, restored, 0);
        let _ = file.set_len(restored.len() as u64);
    }
    written
}
