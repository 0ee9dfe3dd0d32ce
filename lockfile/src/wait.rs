//! Waiting for a lock without blocking the caller in the kernel (semantic 10):
//! with a deadline, or from async code, which must not block its thread.
//!
//! flock(2) has no timeout, so a helper thread opens the lock file itself (its own
//! open file description: a dup would share the caller's lock state) and blocks in
//! the kernel, while the caller waits on a [`Slot`]. It opens the very file the
//! caller's first try opened, through a [`sys::Anchor`](crate::sys::Anchor), not
//! the path, which may name another file by then (or be too long, or relative
//! to a directory since renamed); the caller checks its path after the wait: a thread on a condition
//! variable until its deadline, a task through its `Waker`. The helper hands the
//! locked file to the first caller still queued; a caller that gives up leaves the
//! queue first, then drops whatever reached its slot in the meantime, so a lock
//! nobody wants is released the moment the helper got it.
//!
//! Helpers are bounded: one per lock file per process. Callers that
//! arrive while a helper is blocked queue on it instead of starting another, so a
//! loop of timed-out attempts on a held lock leaves at most one thread behind,
//! which exits as soon as the lock is released.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread;
use std::time::Instant;

use crate::LockError;
use crate::acquire::{Taken, lock_registered};
use crate::fair::Turn;
use crate::open::Identified;
use crate::sys::{Access, Anchor, FileId, PerProcess};

/// What a helper hands over: the locked file (its path not checked, its
/// content not yet written), or why it could not get it.
pub(crate) type Outcome = Result<Taken, LockError>;

/// Where one caller's outcome arrives, and how the caller is told.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    filled: Condvar,
    /// The path as this caller gave it: the helper, serving callers that
    /// reached one file by different paths, has its errors told to each with
    /// its own.
    called: PathBuf,
}

#[derive(Default)]
struct SlotState {
    outcome: Option<Outcome>,
    /// The task to wake, for async callers.
    waker: Option<Waker>,
}

impl Slot {
    fn new(called: &Path) -> Self {
        Self {
            state: Mutex::default(),
            filled: Condvar::new(),
            called: called.to_path_buf(),
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fill(&self, outcome: Outcome) {
        let outcome = outcome.map_err(|err| match err {
            LockError::Io { source, .. } => LockError::io(&self.called, source),
            LockError::UnsafePath { found, .. } => LockError::UnsafePath {
                path: self.called.clone(),
                found,
            },
            other => other,
        });
        let mut state = self.state();
        state.outcome = Some(outcome);
        let waker = state.waker.take();
        // Woken after the unlock, so the caller does not wake into a held mutex.
        drop(state);
        self.filled.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes an async caller without an outcome: its deadline has come.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.state().waker.take() {
            waker.wake();
        }
    }
}

/// Which helper serves a caller: the file, the lock it takes, and how it
/// opens the file (`mode`: a read-only waiter's helper opens it read-only,
/// which would fail a writer's content write). Callers that reached one file
/// by different paths share its helper; each checks its own path once served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HelperKey {
    file: FileId,
    access: Access,
    mode: u32,
}

type Queues = Mutex<HashMap<HelperKey, VecDeque<Arc<Slot>>>>;

/// The callers queued on each helper of this process; a child forked without
/// exec starts with none (its parent's helpers are not its threads), and
/// never touches its parent's mutex, which a thread absent from the child may
/// have held at the fork.
static QUEUES: PerProcess<Queues> = PerProcess::new();

/// Runs `f` on this process's queues, under their lock.
fn with_queues<T>(f: impl FnOnce(&mut HashMap<HelperKey, VecDeque<Arc<Slot>>>) -> T) -> T {
    let mut queues = QUEUES.get().lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut queues)
}

/// A caller's place in a helper's queue. Dropping it leaves the queue and
/// releases a lock that arrived too late: waiting is cancel-safe by construction.
pub(crate) struct Waiting {
    /// `None` for a fair waiter's helper of its own, in no queue.
    key: Option<HelperKey>,
    slot: Arc<Slot>,
    /// False once an outcome arrived (the helper took the slot off the queue)
    /// or the caller left.
    queued: bool,
}

impl Waiting {
    /// Queues on the helper for the file `held_elsewhere` (opened by
    /// `path`), starting one if none.
    pub(crate) fn start(
        path: &Path,
        held_elsewhere: &Identified,
        access: Access,
        mode: u32,
    ) -> Result<Self, LockError> {
        let key = HelperKey {
            file: held_elsewhere.id,
            access,
            mode,
        };
        let slot = Arc::new(Slot::new(path));
        let io = |err| LockError::io(path, err);
        with_queues(|queues| {
            if let Some(queue) = queues.get_mut(&key) {
                queue.push_back(Arc::clone(&slot));
            } else {
                let anchor = Anchor::new(path, &held_elsewhere.file).map_err(io)?;
                let called = path.to_path_buf();
                thread::Builder::new()
                    .name("lockfile-wait".to_owned())
                    .spawn(move || run_helper(key, &anchor, &called, mode))
                    .map_err(io)?;
                queues.insert(key, VecDeque::from([Arc::clone(&slot)]));
            }
            Ok(())
        })?;
        Ok(Self {
            key: Some(key),
            slot,
            queued: true,
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
    ) -> Result<Self, LockError> {
        let anchor =
            Anchor::new(path, &held_elsewhere.file).map_err(|err| LockError::io(path, err))?;
        let called = path.to_path_buf();
        let slot = Arc::new(Slot::new(path));
        let for_helper = Arc::downgrade(&slot);
        thread::Builder::new()
            .name("lockfile-fair".to_owned())
            .spawn(move || {
                let wanted = || for_helper.strong_count() > 0;
                let outcome = turn.wait().and_then(|()| {
                    if !wanted() {
                        return Err(LockError::io(&called, io::ErrorKind::Interrupted.into()));
                    }
                    let (file, registered) = anchor
                        .open_registered(mode)
                        .map_err(|err| LockError::io(&called, err))?;
                    lock_registered(&called, file, registered, access)
                });
                drop(turn);
                // A caller that left meanwhile never reads it: dropped with
                // the slot, which releases the lock.
                if let Some(slot) = for_helper.upgrade() {
                    slot.fill(outcome);
                }
            })
            .map_err(|err| LockError::io(path, err))?;
        Ok(Self {
            key: None,
            slot,
            queued: false,
        })
    }

    /// Blocks the calling thread until the outcome arrives or `deadline` passes.
    pub(crate) fn wait_until(mut self, deadline: Instant) -> Option<Outcome> {
        let mut state = self.slot.state();
        loop {
            if let Some(outcome) = state.outcome.take() {
                drop(state);
                self.queued = false;
                return Some(outcome);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .slot
                .filled
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        // A lock handed over right at the deadline is still taken.
        self.leave()
    }

    /// The outcome if it has arrived; otherwise `waker` is woken when it does.
    pub(crate) fn poll(&mut self, waker: &Waker) -> Option<Outcome> {
        let mut state = self.slot.state();
        let outcome = state.outcome.take();
        if outcome.is_some() {
            self.queued = false;
        } else if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        outcome
    }

    /// The slot, for waking the caller at its deadline.
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Leaves the queue, returning an outcome that arrived before that.
    pub(crate) fn leave(mut self) -> Option<Outcome> {
        self.dequeue();
        self.slot.state().outcome.take()
    }

    fn dequeue(&mut self) {
        if std::mem::take(&mut self.queued)
            && let Some(key) = &self.key
        {
            with_queues(|queues| {
                if let Some(queue) = queues.get_mut(key) {
                    queue.retain(|queued| !Arc::ptr_eq(queued, &self.slot));
                }
            });
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.dequeue();
        // An outcome nobody will take: dropping its file releases the lock. One
        // still on its way is dropped with the slot when the helper lets go of
        // it: either way the lock is released, never kept.
        drop(self.slot.state().outcome.take());
    }
}

/// Takes the lock over and over, once for each queued caller, until none is left.
/// Each time on a new open of the anchored file, never a copy of a caller's
/// descriptor, which would share the caller's lock state. `called` names the
/// file in errors (each caller gets them with its own path).
fn run_helper(key: HelperKey, anchor: &Anchor, called: &Path, mode: u32) {
    loop {
        let outcome = anchor
            .open_registered(mode)
            .map_err(|err| LockError::io(called, err))
            .and_then(|(file, registered)| lock_registered(called, file, registered, key.access));
        if !hand_over(key, outcome) {
            return;
        }
    }
}

/// Gives the outcome to the first caller queued, and says whether more are
/// queued. A helper with none left removes its entry under the same lock, so a
/// caller arriving after that starts a new helper. An outcome nobody took is
/// dropped on return, which releases the lock at once.
///
/// The slot is filled after the queue lock is released, so the woken caller
/// never waits for that lock; a caller that gave up in between left its slot to
/// the helper alone, and the outcome is dropped with it.
fn hand_over(key: HelperKey, outcome: Outcome) -> bool {
    let taken = with_queues(|queues| {
        let queue = queues.get_mut(&key)?;
        let first = queue.pop_front();
        let more = !queue.is_empty();
        if !more {
            queues.remove(&key);
        }
        Some((first, more))
    });
    let Some((first, more)) = taken else {
        return false;
    };
    if let Some(slot) = first {
        slot.fill(outcome);
    }
    more
}
