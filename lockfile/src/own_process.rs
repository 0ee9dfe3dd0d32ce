//! Values that belong to the process that made them (semantic 17). A child
//! forked without exec has a copy of a pending async wait in its memory: the
//! helper and timer thread serving it are its parent's, the mutexes in it may
//! have been held at the fork by a parent's thread absent from the child. The
//! child leaks such a copy rather than drop it: a few bytes and descriptors,
//! every one registered while the wait lasts and so pointed at `/dev/null` by
//! the fork handler, never a lock nor a hang. (A fair ticket beside it needs
//! no such care: `Ticket` itself never gives back a place its process did
//! not take.)

/// `T`, dropped only in the process that made it; leaked in a forked child.
pub(crate) struct OwnProcess<T> {
    value: Option<T>,
    pid: u32,
}

impl<T> OwnProcess<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: Some(value),
            pid: std::process::id(),
        }
    }

    /// Whether this is still the process that made it. (A child's pid is
    /// never its living parent's, so a pid is enough.)
    pub(crate) fn is_ours(&self) -> bool {
        self.pid == std::process::id()
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for OwnProcess<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take()
            && !self.is_ours()
        {
            std::mem::forget(value);
        }
    }
}
