//! The locks held by `#[locked]` functions running on this thread: the one
//! place where a wait is certain never to end (semantic 11).
//!
//! A guard is `Send`: it may be moved to another thread and dropped there
//! while this thread waits, so a wait for a lock this thread once took can
//! still end. The guard of a sync `#[locked]` fn cannot move: it is a hidden,
//! `!Send` local of the fn's frame, released only when the fn returns. So a
//! thread that waits forever for a lock one of its `#[locked]` frames holds
//! waits for itself, and gets `WouldDeadlock` instead.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

use crate::LockedContext;
use crate::sys::FileId;

thread_local! {
    /// A handful of entries at a time in practice, so a scan beats hashing.
    static SCOPES: RefCell<Vec<FileId>> = const { RefCell::new(Vec::new()) };
}

/// Whether a `#[locked]` frame on this thread holds the lock on `id`.
pub(crate) fn in_locked_scope(id: FileId) -> bool {
    SCOPES.with_borrow(|scopes| scopes.contains(&id))
}

/// The guard of a sync `#[locked]` fn: the lock, registered as held by this
/// thread until dropped. Not `Send`, so it cannot leave the thread (nor, being
/// hidden by the macro's hygiene, the fn's frame). With `on = BACKEND`, `G` is
/// the backend's guard: a lock file's ([`Files`](crate::Files), the default)
/// is registered as any other; a lock service's is not (it has no file).
#[derive(Debug)]
pub struct LockedScope<G: 'static = LockedContext> {
    /// The file locked, if the guard is a lock file's.
    id: Option<FileId>,
    /// Held for its drop, after the entry is gone.
    _guard: G,
    _not_send: PhantomData<*const ()>,
}

impl<G: 'static> LockedScope<G> {
    pub(crate) fn enter(guard: G) -> Self {
        let id = (&guard as &dyn Any)
            .downcast_ref::<LockedContext>()
            .map(LockedContext::file_id);
        if let Some(id) = id {
            SCOPES.with_borrow_mut(|scopes| scopes.push(id));
        }
        Self {
            id,
            _guard: guard,
            _not_send: PhantomData,
        }
    }
}

impl<G: 'static> Drop for LockedScope<G> {
    fn drop(&mut self) {
        // Forgotten before the lock is released (when `_guard` drops after
        // this), so a new holder's entry on this thread is never the one removed.
        if let Some(id) = self.id {
            SCOPES.with_borrow_mut(|scopes| {
                if let Some(at) = scopes.iter().rposition(|held| *held == id) {
                    scopes.swap_remove(at);
                }
            });
        }
    }
}
