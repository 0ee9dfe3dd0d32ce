//! Waiting for a lock with a deadline, without polling (semantic 10).
//!
//! flock(2) has no timeout, so a helper thread opens the lock file itself (its own
//! open file description: a dup would share the caller's lock state) and blocks in
//! the kernel, while the caller waits on a channel until its deadline. The helper
//! hands the locked file to the first caller still waiting; if every caller gave up,
//! dropping the file releases the lock the moment the helper got it.
//!
//! Helpers are bounded: one per lock file per process. Callers that arrive while a
//! helper is blocked queue on it instead of starting another, so a loop of timed-out
//! attempts on a held lock leaves at most one thread behind, which exits as soon as
//! the lock is released.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use crate::LockError;
use crate::acquire::lock_blocking;
use crate::open::{FileId, Opened, open_lock_file};

/// What a helper hands over: the locked file, or why it could not get it.
type Outcome = Result<Opened, LockError>;

struct Waiter {
    id: u64,
    outcome: Sender<Outcome>,
}

/// The callers queued on one blocked helper, keyed by the file they wait for.
static QUEUES: Mutex<Option<HashMap<FileId, VecDeque<Waiter>>>> = Mutex::new(None);

fn queues() -> MutexGuard<'static, Option<HashMap<FileId, VecDeque<Waiter>>>> {
    QUEUES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until `deadline` for the lock on `path`, whose file is `id`.
///
/// `Ok(None)` means the deadline passed with the lock still held elsewhere.
pub(crate) fn lock_until(
    path: &Path,
    id: FileId,
    mode: u32,
    deadline: Instant,
) -> Result<Option<Opened>, LockError> {
    static NEXT_WAITER: AtomicU64 = AtomicU64::new(0);
    let waiter_id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
    let (sender, receiver) = mpsc::channel();
    enqueue(
        path,
        id,
        mode,
        Waiter {
            id: waiter_id,
            outcome: sender,
        },
    )?;
    let timeout = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(timeout) {
        Ok(outcome) => outcome.map(Some),
        Err(RecvTimeoutError::Timeout) => give_up(id, waiter_id, &receiver),
        Err(RecvTimeoutError::Disconnected) => Err(helper_vanished(path)),
    }
}

/// Queues the waiter on the helper for `id`, starting one if there is none.
fn enqueue(path: &Path, id: FileId, mode: u32, waiter: Waiter) -> Result<(), LockError> {
    let mut guard = queues();
    let queues = guard.get_or_insert_with(HashMap::new);
    if let Some(queue) = queues.get_mut(&id) {
        queue.push_back(waiter);
        return Ok(());
    }
    // The helper outlives this call, so it must not depend on the current directory.
    let path = std::path::absolute(path).map_err(|err| LockError::io(path, err))?;
    let helper_path = path.clone();
    thread::Builder::new()
        .name("lockfile-wait".to_owned())
        .spawn(move || run_helper(&helper_path, id, mode))
        .map_err(|err| LockError::io(&path, err))?;
    queues.insert(id, VecDeque::from([waiter]));
    Ok(())
}

/// Leaves the queue; a lock handed over in the meantime is still taken.
fn give_up(
    id: FileId,
    waiter_id: u64,
    receiver: &Receiver<Outcome>,
) -> Result<Option<Opened>, LockError> {
    if let Some(queue) = queues().as_mut().and_then(|queues| queues.get_mut(&id)) {
        queue.retain(|waiter| waiter.id != waiter_id);
    }
    // The helper only sends while holding the queue lock, so after leaving the
    // queue either the outcome is already in the channel or it never will be.
    match receiver.try_recv() {
        Ok(outcome) => outcome.map(Some),
        Err(_) => Ok(None),
    }
}

/// Takes the lock over and over, once for each queued caller, until none is left.
fn run_helper(path: &Path, id: FileId, mode: u32) {
    loop {
        let mut outcome = open_lock_file(path, mode).and_then(|opened| lock_blocking(path, opened));
        let mut guard = queues();
        let Some(queue) = guard.as_mut().and_then(|queues| queues.get_mut(&id)) else {
            return;
        };
        while let Some(waiter) = queue.pop_front() {
            match waiter.outcome.send(outcome) {
                Ok(()) => break,
                // That caller is gone; the next one gets it.
                Err(mpsc::SendError(unsent)) => outcome = unsent,
            }
        }
        if queue.is_empty() {
            if let Some(queues) = guard.as_mut() {
                queues.remove(&id);
            }
            // An outcome nobody took is dropped here: the lock is released at once.
            return;
        }
    }
}

fn helper_vanished(path: &Path) -> LockError {
    let err = std::io::Error::other("the thread waiting for the lock exited unexpectedly");
    LockError::io(path, err)
}
