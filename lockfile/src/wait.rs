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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use crate::LockError;
use crate::acquire::lock_blocking;
use std::fs::File;

use crate::open::{FileId, open_lock_file};

/// What a helper hands over: the locked file (not yet identified), or why it
/// could not get it.
type Outcome = Result<File, LockError>;

struct Waiter {
    id: u64,
    outcome: Sender<Outcome>,
}

/// Which helper serves a caller: the file, and the path the helper opens it by.
///
/// The path is part of the key because a helper outlives its callers: once a
/// file is deleted its inode number can be reused by an unrelated file, which
/// must not be waited for through the old path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HelperKey {
    file: FileId,
    /// Absolute, so the helper does not depend on the current directory.
    path: PathBuf,
}

/// The callers queued on each helper.
static QUEUES: Mutex<Option<HashMap<HelperKey, VecDeque<Waiter>>>> = Mutex::new(None);

fn queues() -> MutexGuard<'static, Option<HashMap<HelperKey, VecDeque<Waiter>>>> {
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
) -> Result<Option<File>, LockError> {
    static NEXT_WAITER: AtomicU64 = AtomicU64::new(0);
    let waiter_id = NEXT_WAITER.fetch_add(1, Ordering::Relaxed);
    let key = HelperKey {
        file: id,
        path: std::path::absolute(path).map_err(|err| LockError::io(path, err))?,
    };
    let (sender, receiver) = mpsc::channel();
    let waiter = Waiter {
        id: waiter_id,
        outcome: sender,
    };
    enqueue(&key, mode, waiter).map_err(|err| LockError::io(path, err))?;
    let timeout = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(timeout) {
        Ok(outcome) => outcome.map(Some),
        Err(RecvTimeoutError::Timeout) => give_up(&key, waiter_id, &receiver),
        Err(RecvTimeoutError::Disconnected) => Err(helper_vanished(path)),
    }
}

/// Queues the waiter on the helper for `key`, starting one if there is none.
fn enqueue(key: &HelperKey, mode: u32, waiter: Waiter) -> std::io::Result<()> {
    let mut guard = queues();
    let queues = guard.get_or_insert_with(HashMap::new);
    if let Some(queue) = queues.get_mut(key) {
        queue.push_back(waiter);
        return Ok(());
    }
    let helper_key = key.clone();
    thread::Builder::new()
        .name("lockfile-wait".to_owned())
        .spawn(move || run_helper(&helper_key, mode))?;
    queues.insert(key.clone(), VecDeque::from([waiter]));
    Ok(())
}

/// Leaves the queue; a lock handed over in the meantime is still taken.
fn give_up(
    key: &HelperKey,
    waiter_id: u64,
    receiver: &Receiver<Outcome>,
) -> Result<Option<File>, LockError> {
    if let Some(queue) = queues().as_mut().and_then(|queues| queues.get_mut(key)) {
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
fn run_helper(key: &HelperKey, mode: u32) {
    let path = &key.path;
    loop {
        let outcome = open_lock_file(path, mode).and_then(|file| lock_blocking(path, file));
        if !hand_over(key, outcome) {
            return;
        }
    }
}

/// Gives the outcome to the first caller still waiting, and says whether more
/// callers are queued. A helper with none left removes its entry under the same
/// lock, so a caller arriving after that starts a new helper. An outcome nobody
/// took is dropped on return, which releases the lock at once.
fn hand_over(key: &HelperKey, mut outcome: Outcome) -> bool {
    let mut guard = queues();
    let Some(queues) = guard.as_mut() else {
        return false;
    };
    let Some(queue) = queues.get_mut(key) else {
        return false;
    };
    while let Some(waiter) = queue.pop_front() {
        match waiter.outcome.send(outcome) {
            Ok(()) => break,
            // That caller is gone; the next one gets it.
            Err(mpsc::SendError(unsent)) => outcome = unsent,
        }
    }
    if queue.is_empty() {
        queues.remove(key);
        return false;
    }
    true
}

fn helper_vanished(path: &Path) -> LockError {
    let err = std::io::Error::other("the thread waiting for the lock exited unexpectedly");
    LockError::io(path, err)
}
