//! Fair mode ([`LockOptions::fair`](crate::LockOptions::fair)): first come,
//! first served among fair participants, crash-safe because every piece of
//! queue state is a kernel lock that dies with its owner (ARCHITECTURE.md, "Fair mode").
//!
//! Beside the lock file `L` lies its queue file `L.queue`. Its first 8 bytes
//! hold a ticket counter (little-endian), changed only under a byte-range
//! lock of those 8 bytes. A waiter takes ticket `t` and, in the same critical
//! section, locks the byte of slot `t` (exclusive for a writer, shared for a
//! reader), which it keeps while it waits and while it holds the lock. Its
//! turn comes when it can lock the slots of the tickets before it: a writer
//! asks for an exclusive lock of that range (it waits for every earlier
//! waiter), a reader for a shared one (it waits for earlier writers only, so
//! readers queued together go together, and no reader overtakes a writer
//! queued before it). Then it takes the real lock on `L`, which alone gives
//! exclusion: the queue only orders, so a participant that ignores it (our
//! default mode, `flock(1)`, zc.lockfile) still excludes and is excluded.
//!
//! Slots are a ring of [`SLOTS`] bytes; a waiter looks back over half of it,
//! far more tickets than can be alive at once, so the counter may wrap.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::LockError;
use crate::acquire::{FirstTry, Request, finish, try_take};
use crate::handover::Place;
use crate::open::{READ_ONLY, identify, open_if_exists, open_lock_file};
use crate::sys::{self, Access, FileId, PerProcess};

/// The counter's bytes, locked while a ticket is taken.
const COUNTER: (u64, u64) = (0, 8);
/// Where the ring of slots starts.
const FIRST_SLOT: u64 = 8;
/// The ring's size: offsets stay below 2^31, in range of a 32-bit `off_t`.
const SLOTS: u64 = 1 << 30;
/// How far back a waiter looks: tickets older than this are never alive.
const WINDOW: u64 = SLOTS / 2;

/// `lock_path` + `".queue"`: the companion file of a fair lock.
pub(crate) fn queue_path(lock_path: &Path) -> PathBuf {
    let mut path = lock_path.as_os_str().to_owned();
    path.push(".queue");
    PathBuf::from(path)
}

/// Refuses a fair lock where the platform cannot queue, before anything is
/// opened.
pub(crate) fn check_supported(path: &Path) -> Result<(), LockError> {
    if sys::FAIR_SUPPORTED {
        Ok(())
    } else {
        Err(LockError::Unsupported {
            path: path.to_path_buf(),
            what: "fair locks on this platform (they need byte-range locks owned by an \
                   open file description: Linux's OFD locks)",
        })
    }
}

/// The first try of a fair lock: as the default mode's, but a lock found free
/// is let go again, unwritten, while fair waiters are queued for it that this
/// newcomer must not overtake (for a reader, queued writers only). Nobody
/// queued costs one `F_OFD_GETLK` on the queue file, which the first look of
/// a process opens (creating it if it can: a missing file cannot be kept
/// open, and on tmpfs, which caches no negative lookups, each look for it
/// would cost a locked directory walk) and keeps open (see [`Found`]).
pub(crate) fn first_try(path: &Path, request: Request<'_>) -> Result<FirstTry, LockError> {
    match try_take(path, request)? {
        FirstTry::Locked(locked) => match anyone_queued(path, locked.id, request) {
            Ok(false) => finish(path, locked, request).map(FirstTry::Locked),
            queued => {
                // A momentary lock: unlocked explicitly, not only closed
                // (semantic 17), before it is looked at as someone else's.
                let held = locked.into_held(path)?;
                queued?;
                Ok(FirstTry::Queued(held))
            }
        },
        not_ours => Ok(not_ours),
    }
}

/// Whether a fair waiter is queued for the lock file `lock` at `path` that a
/// newcomer with `access` must let go first: one taking a ticket, or holding
/// one that `access` conflicts with.
fn anyone_queued(path: &Path, lock: FileId, request: Request<'_>) -> Result<bool, LockError> {
    let queue = queue_path(path);
    let access = request.access;
    let io = |err| LockError::io(&queue, err);
    // Length 0: every byte, the counter's and all the slots.
    if let Some(queued) = Found::get().look(lock, &queue, |file| {
        sys::range_conflicts(file, access, 0, 0)
    }) {
        return queued.map_err(io);
    }
    let file = match open_lock_file(&queue, request.mode & !READ_ONLY) {
        Ok(file) => file,
        // Not ours to create (another user's directory, a read-only file
        // system): a look at what is there, if anything, not kept.
        Err(LockError::Io { source, .. })
            if matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            let Some(file) = open_if_exists(&queue)? else {
                return Ok(false);
            };
            return sys::range_conflicts(&file, access, 0, 0).map_err(io);
        }
        Err(err) => return Err(err),
    };
    let queued = sys::range_conflicts(&file, access, 0, 0).map_err(io)?;
    Found::get().keep(lock, queue, file);
    Ok(queued)
}

/// Queue files this process looked at, kept open (close-on-exec), so
/// that a fair newcomer's look at a queue it saw before is one `fcntl`, not
/// an `open`, an `fcntl` and a `close`. At most [`KEPT`], the oldest let go
/// first. A queue file is never deleted (deleting it while waiters queue
/// would hide them anyway), so a kept descriptor stays the queue's.
///
/// Per process: a child forked without exec starts with none, and never
/// touches the parent's mutex, which a thread absent from the child may have
/// held at the fork (it would hang there). The parent's kept descriptors stay
/// open, unused, in the child: they are only looked through (`F_OFD_GETLK`),
/// never locked, so they hold nothing.
#[derive(Default)]
struct Found {
    queues: VecDeque<(FileId, PathBuf, File)>,
}

const KEPT: usize = 8;

static FOUND: PerProcess<Mutex<Found>> = PerProcess::new();

impl Found {
    fn get() -> MutexGuard<'static, Self> {
        FOUND.get().lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `ask` on the kept queue file of the lock file `of`, if any.
    fn look<T>(&self, of: FileId, queue: &Path, ask: impl FnOnce(&File) -> T) -> Option<T> {
        self.queues
            .iter()
            .find(|(id, path, _)| *id == of && path == queue)
            .map(|(_, _, file)| ask(file))
    }

    fn keep(&mut self, lock: FileId, queue: PathBuf, file: File) {
        if self.look(lock, &queue, |_| ()).is_some() {
            return; // another thread kept it meanwhile
        }
        if self.queues.len() == KEPT {
            self.queues.pop_front();
        }
        self.queues.push_back((lock, queue, file));
    }
}

/// A place in the queue: the slot's byte, locked on our open of the queue
/// file until this is dropped. Dropping it unlocks the slot explicitly (a
/// forked child's copy of the descriptor must not keep it), then closes.
///
/// While its wait lasts the descriptor is registered (from its open): a
/// child forked meanwhile, by any thread, gets it pointed at `/dev/null`, so
/// the child never keeps its parent's place in the queue, also not once the
/// parent is gone. Once the lock is taken the ticket is a guard's, which a
/// child may share ([`Ticket::now_a_guards`]).
#[derive(Debug)]
pub(crate) struct Ticket {
    /// Dropped before the queue file may be closed: a fork in between must
    /// not find a registered number that another open may reuse.
    registered: Option<sys::WaitingDescriptor>,
    /// The process that took it: a forked child dropping its copy of a
    /// guard's ticket closes it without unlocking, as it does the guard's
    /// lock file, so that it leaves its parent's place alone.
    taken_by: u32,
    queue: Arc<Queue>,
    number: u64,
    access: Access,
}

/// An open queue file, and its path for errors.
#[derive(Debug)]
struct Queue {
    file: File,
    path: PathBuf,
}

impl Ticket {
    /// Takes the next ticket for the lock at `lock_path`, creating the queue
    /// file (with `mode`) if there is none.
    pub(crate) fn take(lock_path: &Path, access: Access, mode: u32) -> Result<Self, LockError> {
        let path = queue_path(lock_path);
        // The counter is written even by a holder of a read-only lock file.
        let (file, registered) = sys::WaitingDescriptor::open(|| {
            Ok::<_, LockError>(identify(&path, open_lock_file(&path, mode & !READ_ONLY)?)?.file)
        })?;
        match take_number(&file, access) {
            Ok(number) => Ok(Self {
                registered: Some(registered),
                taken_by: std::process::id(),
                queue: Arc::new(Queue { file, path }),
                number,
                access,
            }),
            Err(err) => {
                drop(registered);
                drop(file);
                Err(LockError::io(&path, err))
            }
        }
    }

    /// The lock is taken: from here on the ticket is a guard's, whose
    /// descriptor a forked child may share as it shares the lock file's.
    pub(crate) fn now_a_guards(&mut self) {
        self.registered = None;
    }

    /// Blocks until every earlier ticket this one must wait for is gone.
    pub(crate) fn wait_turn(&self) -> Result<(), LockError> {
        self.turn().wait()
    }

    /// What a helper thread needs to wait for this ticket's turn while the
    /// caller keeps the ticket (and may drop it, leaving the queue at once).
    pub(crate) fn turn(&self) -> Turn {
        Turn {
            queue: Arc::clone(&self.queue),
            number: self.number,
            access: self.access,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken_by == std::process::id() {
            let _ = sys::range_unlock(&self.queue.file, slot(self.number), 1);
        }
        // Unregistered before the close (the last `Arc<Queue>` may be ours).
        drop(self.registered.take());
    }
}

/// Waiting for a ticket's turn, on the ticket's own open of the queue file.
#[derive(Clone)]
pub(crate) struct Turn {
    queue: Arc<Queue>,
    number: u64,
    access: Access,
}

/// A helper serving several fair waiters of this process waits for their
/// turns in ticket order, and hands a lock taken in one's turn to it alone.
impl Place for Turn {
    fn may_serve(&self, other: &Self) -> bool {
        self.number == other.number && Arc::ptr_eq(&self.queue, &other.queue)
    }
}

impl Turn {
    /// Blocks until no earlier ticket in the window conflicts: a lock of the
    /// earlier slots, let go at once. Earlier tickets only ever leave, so one
    /// range after the other (two where the ring wraps) is enough.
    pub(crate) fn wait(&self) -> Result<(), LockError> {
        for (start, len) in earlier_slots(self.number) {
            if len == 0 {
                continue;
            }
            let file = &self.queue.file;
            sys::range_lock(file, self.access, start, len, true)
                .and_then(|_| sys::range_unlock(file, start, len))
                .map_err(|err| LockError::io(&self.queue.path, err))?;
        }
        Ok(())
    }
}

/// Under the counter's lock: reads the counter, locks the first free slot
/// from there, and writes the counter past it. A slot still locked (by a
/// ticket a whole ring ago, or after the file was tampered with) is skipped.
fn take_number(file: &File, access: Access) -> io::Result<u64> {
    let (start, len) = COUNTER;
    sys::range_lock(file, Access::Exclusive, start, len, true)?;
    let taken = (|| {
        let mut number = read_counter(file)?;
        for _ in 0..WINDOW {
            if sys::range_lock(file, access, slot(number), 1, false)? {
                if let Err(err) = sys::write_all_at(file, &number.wrapping_add(1).to_le_bytes(), 0)
                {
                    let _ = sys::range_unlock(file, slot(number), 1);
                    return Err(err);
                }
                return Ok(number);
            }
            number = number.wrapping_add(1);
        }
        Err(io::Error::other("no free slot in the fair queue"))
    })();
    let unlocked = sys::range_unlock(file, start, len);
    let number = taken?;
    if let Err(err) = unlocked {
        let _ = sys::range_unlock(file, slot(number), 1);
        return Err(err);
    }
    Ok(number)
}

/// The counter; missing bytes (a new or short file) read as zeroes.
fn read_counter(file: &File) -> io::Result<u64> {
    let mut bytes = [0; 8];
    let mut read = 0;
    while read < bytes.len() {
        match sys::read_at(file, &mut bytes[read..], read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(u64::from_le_bytes(bytes))
}

/// The byte of ticket `number`'s slot.
fn slot(number: u64) -> u64 {
    FIRST_SLOT + number % SLOTS
}

/// The slots of the [`WINDOW`] tickets before `number`, as (start, length)
/// ranges: one, or two where the window wraps around the ring's start.
fn earlier_slots(number: u64) -> [(u64, u64); 2] {
    let at = number % SLOTS;
    if at >= WINDOW {
        [(FIRST_SLOT + at - WINDOW, WINDOW), (0, 0)]
    } else {
        let wrapped = WINDOW - at;
        [(FIRST_SLOT, at), (FIRST_SLOT + SLOTS - wrapped, wrapped)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_tickets_before_and_never_the_own_slot() {
        for number in [
            0,
            1,
            WINDOW - 1,
            WINDOW,
            WINDOW + 1,
            SLOTS - 1,
            SLOTS,
            u64::MAX,
        ] {
            let ranges = earlier_slots(number);
            let total: u64 = ranges.iter().map(|(_, len)| len).sum();
            assert_eq!(total, WINDOW, "ticket {number}");
            for back in [1, 2, WINDOW] {
                let earlier = slot(number.wrapping_sub(back));
                assert!(
                    ranges
                        .iter()
                        .any(|&(start, len)| (start..start + len).contains(&earlier)),
                    "ticket {number} does not wait for ticket {number} - {back}"
                );
            }
            let own = slot(number);
            let later = slot(number.wrapping_add(1));
            for (start, len) in ranges {
                assert!(!(start..start + len).contains(&own), "ticket {number}");
                assert!(!(start..start + len).contains(&later), "ticket {number}");
            }
        }
    }
}
