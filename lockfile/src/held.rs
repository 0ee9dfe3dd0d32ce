//! Which lock files this process holds, and on which thread they were taken
//! (semantic 11): a thread that waits for a lock it holds itself would wait forever,
//! because flock(2) excludes every other open of the file, ours included.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use crate::open::FileId;

/// A handful of entries at a time in practice, so a scan beats hashing.
static HELD: Mutex<Vec<(FileId, ThreadId)>> = Mutex::new(Vec::new());

fn held() -> MutexGuard<'static, Vec<(FileId, ThreadId)>> {
    // Nothing panics while the list is locked; a poisoned list is still consistent.
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records that the current thread has just taken the lock on `id`.
pub(crate) fn register(id: FileId) {
    held().push((id, thread::current().id()));
}

/// Forgets `id`; called before the unlock, so a new holder's entry is never removed.
pub(crate) fn unregister(id: FileId) {
    let mut held = held();
    if let Some(at) = held.iter().position(|(held_id, _)| *held_id == id) {
        held.swap_remove(at);
    }
}

/// Whether the current thread took the lock on `id` and still holds it.
pub(crate) fn by_current_thread(id: FileId) -> bool {
    let me = thread::current().id();
    held()
        .iter()
        .any(|&(held_id, owner)| held_id == id && owner == me)
}
