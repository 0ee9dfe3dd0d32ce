//! Waiting for a lock without blocking the caller in the kernel (semantic 10):
//! with a deadline, or from async code, which must not block its thread.
//!
//! flock(2) has no timeout, so a helper thread opens the lock file itself (its own
//! open file description: a dup would share the caller's lock state) and blocks in
//! the kernel, while the caller waits on a [`Slot`]: a thread on a condition
//! variable until its deadline, a task through its `Waker`. The helper hands the
//! locked file to the first caller still queued; a caller that gives up leaves the
//! queue first, then drops whatever reached its slot in the meantime, so a lock
//! nobody wants is released the moment the helper got it.
//!
//! Helpers are bounded: one per lock file (and path) per process. Callers that
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
use crate::acquire::wait_on;
use crate::fair::Turn;
use crate::open::{Identified, open_lock_file};
use crate::sys::{Access, FileId};

/// What a helper hands over: the locked file, identified as still the lock at
/// its path (its content not yet written), or why it could not get it.
pub(crate) type Outcome = Result<Identified, LockError>;

/// Where one caller's outcome arrives, and how the caller is told.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    filled: Condvar,
    /// The path as this caller gave it. The helper opens the canonical path
    /// (`\\?\C:\...` on Windows, `/private/var/...` for macOS's `/var/...`);
    /// its errors are told to the caller with the caller's spelling.
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

/// Which helper serves a caller: the file, the path the helper opens it by,
/// and the lock it takes.
///
/// The path is part of the key because a helper outlives its callers: once a
/// file is renamed or deleted, the old path can name another file, or none,
/// and must not be waited on for callers who reached the file another way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HelperKey {
    file: FileId,
    /// Absolute, so the helper does not depend on the current directory.
    path: PathBuf,
    access: Access,
}

/// The callers queued on each helper of one process.
struct Queues {
    /// The process whose helpers these are: a child forked without exec
    /// inherits the memory but not the threads, and starts afresh.
    owner: u32,
    helpers: HashMap<HelperKey, VecDeque<Arc<Slot>>>,
}

static QUEUES: Mutex<Option<Queues>> = Mutex::new(None);

/// Runs `f` on this process's queues, under their lock.
fn with_queues<T>(f: impl FnOnce(&mut HashMap<HelperKey, VecDeque<Arc<Slot>>>) -> T) -> T {
    let mut guard = QUEUES.lock().unwrap_or_else(PoisonError::into_inner);
    let owner = std::process::id();
    let queues = guard.get_or_insert_with(|| Queues {
        owner,
        helpers: HashMap::new(),
    });
    if queues.owner != owner {
        *queues = Queues {
            owner,
            helpers: HashMap::new(),
        };
    }
    f(&mut queues.helpers)
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
    /// Queues on the helper for `path`, whose file is `id`, starting one if none.
    pub(crate) fn start(
        path: &Path,
        id: FileId,
        access: Access,
        mode: u32,
    ) -> Result<Self, LockError> {
        let key = HelperKey {
            file: id,
            path: helper_path(path).map_err(|err| LockError::io(path, err))?,
            access,
        };
        let slot = Arc::new(Slot::new(path));
        with_queues(|queues| {
            if let Some(queue) = queues.get_mut(&key) {
                queue.push_back(Arc::clone(&slot));
            } else {
                let helper_key = key.clone();
                thread::Builder::new()
                    .name("lockfile-wait".to_owned())
                    .spawn(move || run_helper(&helper_key, mode))
                    .map_err(|err| LockError::io(path, err))?;
                queues.insert(key.clone(), VecDeque::from([Arc::clone(&slot)]));
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
        turn: Turn,
        access: Access,
        mode: u32,
    ) -> Result<Self, LockError> {
        let helper_path = helper_path(path).map_err(|err| LockError::io(path, err))?;
        let slot = Arc::new(Slot::new(path));
        let for_helper = Arc::downgrade(&slot);
        thread::Builder::new()
            .name("lockfile-fair".to_owned())
            .spawn(move || {
                let wanted = || for_helper.strong_count() > 0;
                let outcome = turn.wait().and_then(|()| {
                    if !wanted() {
                        return Err(LockError::io(
                            &helper_path,
                            io::ErrorKind::Interrupted.into(),
                        ));
                    }
                    let file = open_lock_file(&helper_path, mode)?;
                    wait_on(&helper_path, file, access, mode)
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

/// The path a helper opens: absolute, with its directory's symlinks and `..`
/// resolved, so that every spelling of one lock file shares one helper.
fn helper_path(path: &Path) -> std::io::Result<PathBuf> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            Ok(std::fs::canonicalize(parent)?.join(name))
        }
        _ => std::path::absolute(path),
    }
}

/// Takes the lock over and over, once for each queued caller, until none is left.
/// Each time on a file of its own opening, never a copy of a caller's
/// descriptor, which would share the caller's lock state.
fn run_helper(key: &HelperKey, mode: u32) {
    let path = &key.path;
    loop {
        let outcome =
            open_lock_file(path, mode).and_then(|file| wait_on(path, file, key.access, mode));
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
fn hand_over(key: &HelperKey, outcome: Outcome) -> bool {
    let taken = with_queues(|queues| {
        let queue = queues.get_mut(key)?;
        let first = queue.pop_front();
        let more = !queue.is_empty();
        if !more {
            queues.remove(key);
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
