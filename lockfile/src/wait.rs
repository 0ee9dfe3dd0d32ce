//! Waiting for a lock without blocking the caller in the kernel (semantic 10):
//! with a deadline, or from async code, which must not block its thread.
//!
//! flock(2) has no timeout, so a helper thread opens the lock file itself (its own
//! open file description: a dup would share the caller's lock state) and blocks in
//! the kernel, while the caller waits on a slot ([`handover`](crate::handover):
//! the queue, the slot and cancellation, model-checked there). It opens the very
//! file the caller's first try opened, through a [`sys::Anchor`](crate::sys::Anchor),
//! not the path, which may name another file by then (or be too long, or relative
//! to a directory since renamed); the caller checks its path after the wait.
//!
//! Helpers are bounded: one per lock file per process. Callers that
//! arrive while a helper is blocked queue on it instead of starting another, so a
//! loop of timed-out attempts on a held lock leaves at most one thread behind,
//! which exits as soon as the lock is released.

use std::io;
use std::path::Path;

use crate::LockError;
use crate::acquire::{Taken, lock_registered};
use crate::fair::{Ticket, Turn};
use crate::handover::{self, Handed, Queues};
use crate::open::Identified;
use crate::sync::thread;
use crate::sys::{Access, Anchor, FileId, PerProcess};

/// What a helper hands over: the locked file (its path not checked, its
/// content not yet written), or why it could not get it.
pub(crate) type Outcome = Result<Taken, LockError>;

impl Handed for Outcome {
    fn for_caller(self, called: &Path) -> Self {
        self.map_err(|err| match err {
            LockError::Io { source, .. } => LockError::io(called, source),
            LockError::UnsafePath { found, .. } => LockError::UnsafePath {
                path: called.to_path_buf(),
                found,
            },
            other => other,
        })
    }
}

/// Which helper serves a caller: the file, the lock it takes, how it opens
/// the file (`mode`: a read-only waiter's helper opens it read-only, which
/// would fail a writer's content write), and whether its callers are fair
/// (each waits for its ticket's turn). Callers that reached one file by
/// different paths share its helper; each checks its own path once served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct HelperKey {
    file: FileId,
    access: Access,
    mode: u32,
    fair: bool,
}

impl HelperKey {
    fn of(held_elsewhere: &Identified, access: Access, mode: u32, fair: bool) -> Self {
        Self {
            file: held_elsewhere.id,
            access,
            mode,
            fair,
        }
    }
}

/// A caller's place in a helper's queue; dropping it leaves the queue and
/// releases a lock that arrived too late.
pub(crate) type Waiting = handover::Waiting<HelperKey, Outcome, Option<Turn>>;

type WaitQueues = Queues<HelperKey, Outcome, Option<Turn>>;

/// The callers queued on each helper of this process; a child forked without
/// exec starts with none (its parent's helpers are not its threads), and
/// never touches its parent's mutex, which a thread absent from the child may
/// have held at the fork.
static QUEUES: PerProcess<WaitQueues> = PerProcess::new();

fn queues() -> &'static WaitQueues {
    QUEUES.get()
}

/// Queues on the helper for the file `held_elsewhere` (opened by `path`),
/// starting one if none.
pub(crate) fn start(
    path: &Path,
    held_elsewhere: &Identified,
    access: Access,
    mode: u32,
) -> Result<Waiting, LockError> {
    let key = HelperKey::of(held_elsewhere, access, mode, false);
    Waiting::queue(
        queues,
        key,
        path,
        || Ok(None),
        || spawn_helper(path, held_elsewhere, key),
    )
}

/// Takes a ticket in the fair queue of the lock file at `path` and queues on
/// the fair helper for the file `held_elsewhere`, starting one if none. The
/// ticket is taken under that helper's joining lock, so this process's fair
/// waiters join their helper's line in ticket order.
pub(crate) fn start_fair(
    path: &Path,
    held_elsewhere: &Identified,
    access: Access,
    mode: u32,
) -> Result<(Waiting, Ticket), LockError> {
    let key = HelperKey::of(held_elsewhere, access, mode, true);
    let mut ticket = None;
    let waiting = Waiting::queue(
        queues,
        key,
        path,
        || {
            Ok(Some(
                ticket.insert(Ticket::take(path, access, mode)?).turn(),
            ))
        },
        || spawn_helper(path, held_elsewhere, key),
    )?;
    Ok((waiting, ticket.expect("taken when queued")))
}

/// Starts the helper for `key`: for the first caller queued, it waits for its
/// turn (fair callers), then opens the anchored file anew (its own open file
/// description, never a copy of a caller's, which would share its lock state)
/// and blocks for the lock; over and over until nobody is queued. A fair
/// caller that left while the helper waited for its turn is not served: a
/// blocked lock request cannot be withdrawn, so the helper moves on to the
/// next one's turn without touching the lock.
fn spawn_helper(path: &Path, held_elsewhere: &Identified, key: HelperKey) -> Result<(), LockError> {
    let io = |err| LockError::io(path, err);
    let anchor = Anchor::new(path, &held_elsewhere.file).map_err(io)?;
    let called = path.to_path_buf();
    let name = if key.fair {
        "lockfile-fair"
    } else {
        "lockfile-wait"
    };
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            handover::run_helper(queues, key, |turn, still_first| {
                if let Some(turn) = turn {
                    turn.wait()?;
                    if !still_first() {
                        return Err(LockError::io(&called, io::ErrorKind::Interrupted.into()));
                    }
                }
                let (file, registered) = anchor
                    .open_registered(key.mode)
                    .map_err(|err| LockError::io(&called, err))?;
                lock_registered(&called, file, registered, key.access)
            });
        })
        .map_err(io)?;
    Ok(())
}
