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
use crate::fair::Turn;
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

/// Which helper serves a caller: the file, the lock it takes, and how it
/// opens the file (`mode`: a read-only waiter's helper opens it read-only,
/// which would fail a writer's content write). Callers that reached one file
/// by different paths share its helper; each checks its own path once served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct HelperKey {
    file: FileId,
    access: Access,
    mode: u32,
}

/// A caller's place in a helper's queue; dropping it leaves the queue and
/// releases a lock that arrived too late.
pub(crate) type Waiting = handover::Waiting<HelperKey, Outcome>;

/// The callers queued on each helper of this process; a child forked without
/// exec starts with none (its parent's helpers are not its threads), and
/// never touches its parent's mutex, which a thread absent from the child may
/// have held at the fork.
static QUEUES: PerProcess<Queues<HelperKey, Outcome>> = PerProcess::new();

fn queues() -> &'static Queues<HelperKey, Outcome> {
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
    let key = HelperKey {
        file: held_elsewhere.id,
        access,
        mode,
    };
    let io = |err| LockError::io(path, err);
    Waiting::queue(queues, key, path, || {
        let anchor = Anchor::new(path, &held_elsewhere.file).map_err(io)?;
        let called = path.to_path_buf();
        thread::Builder::new()
            .name("lockfile-wait".to_owned())
            .spawn(move || {
                // Each time on a new open of the anchored file, never a copy
                // of a caller's descriptor, which would share its lock state.
                handover::run_helper(queues, key, || {
                    anchor
                        .open_registered(mode)
                        .map_err(|err| LockError::io(&called, err))
                        .and_then(|(file, registered)| {
                            lock_registered(&called, file, registered, access)
                        })
                });
            })
            .map_err(io)?;
        Ok(())
    })
}

/// Starts a helper of this caller's own for a fair wait: it waits for the
/// ticket's turn, then for the lock at `path` as any helper does. Fair
/// waiters do not share helpers: each has its own place in the queue. A
/// helper whose caller gave up (dropping the ticket, which leaves the
/// queue at once) still waits for its turn, since a blocked lock request
/// cannot be withdrawn, but then goes without touching the lock.
pub(crate) fn start_fair(
    path: &Path,
    held_elsewhere: &Identified,
    turn: Turn,
    access: Access,
    mode: u32,
) -> Result<Waiting, LockError> {
    let anchor = Anchor::new(path, &held_elsewhere.file).map_err(|err| LockError::io(path, err))?;
    let called = path.to_path_buf();
    let (waiting, waiter) = Waiting::alone(path);
    thread::Builder::new()
        .name("lockfile-fair".to_owned())
        .spawn(move || {
            let outcome = turn.wait().and_then(|()| {
                if waiter.strong_count() == 0 {
                    return Err(LockError::io(&called, io::ErrorKind::Interrupted.into()));
                }
                let (file, registered) = anchor
                    .open_registered(mode)
                    .map_err(|err| LockError::io(&called, err))?;
                lock_registered(&called, file, registered, access)
            });
            drop(turn);
            handover::hand_to(&waiter, outcome);
        })
        .map_err(|err| LockError::io(path, err))?;
    Ok(waiting)
}
