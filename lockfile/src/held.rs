//! The locks held by `#[locked]` functions running on this thread: the one
//! place where a wait is certain never to end (semantic 11).
//!
//! A guard is `Send`: it may be moved to another thread and dropped there
//! while this thread waits, so a wait for a lock this thread once took can
//! still end. The guard of a sync `#[locked]` fn cannot move: it is a hidden,
//! `!Send` local of the fn's frame, released only when the fn returns. So a
//! thread that waits forever for a lock one of its `#[locked]` frames holds
//! waits for itself, and gets `WouldDeadlock` instead.

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::sys::FileId;
use crate::{LockedContext, LockedSet};

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
/// hidden by the macro's hygiene, the fn's frame).
#[derive(Debug)]
pub struct LockedScope {
    held: Held,
    _not_send: PhantomData<*const ()>,
}

/// One lock, or a set of them (`#[locked(["a", "b"])]`).
#[derive(Debug)]
enum Held {
    One(LockedContext),
    Set(LockedSet),
}

impl LockedScope {
    pub(crate) fn enter(context: LockedContext) -> Self {
        Self::register(Held::One(context))
    }

    pub(crate) fn enter_set(set: LockedSet) -> Self {
        Self::register(Held::Set(set))
    }

    fn register(held: Held) -> Self {
        let scope = Self {
            held,
            _not_send: PhantomData,
        };
        SCOPES.with_borrow_mut(|scopes| scope.each_id(|id| scopes.push(id)));
        scope
    }

    fn each_id(&self, mut f: impl FnMut(FileId)) {
        match &self.held {
            Held::One(context) => f(context.file_id()),
            Held::Set(set) => set.file_ids().for_each(f),
        }
    }
}

impl Drop for LockedScope {
    fn drop(&mut self) {
        // Forgotten before the locks are released (when `held` drops after
        // this), so a new holder's entry on this thread is never the one removed.
        SCOPES.with_borrow_mut(|scopes| {
            self.each_id(|id| {
                if let Some(at) = scopes.iter().rposition(|held| *held == id) {
                    scopes.swap_remove(at);
                }
            });
        });
    }
}
