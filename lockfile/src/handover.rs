//! Handing what a helper thread waited for to the callers queued for it
//! (semantic 10), whatever it is: an open lock file in `wait.rs`, a model
//! lock in the model-checking tests (`handover/model.rs`), which run this
//! very code under a scheduler explorer.
//!
//! One helper per key: callers that arrive while it waits queue on it instead
//! of starting another. It hands each outcome to the first caller still
//! queued, and exits when none is left. Callers may have a [`Place`] in a
//! line that orders them (the fair mode's tickets): the helper then waits for
//! the first one's turn before it takes the lock, and hands that lock to that
//! caller alone. A caller that gives up leaves the queue first, then drops
//! whatever reached its slot in the meantime; an outcome on its way is
//! dropped with the slot when the helper lets go of it. Either way a lock
//! nobody wants is released the moment the helper got it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::sync::{self, Condvar, Mutex, MutexGuard};

#[cfg(all(test, shuttle))]
mod model;

/// What a helper hands over.
pub(crate) trait Handed: Send + 'static {
    /// The outcome as the caller that named the file `called` is to see it:
    /// a helper serves callers that reached one file by different paths.
    #[must_use]
    fn for_caller(self, called: &Path) -> Self;
}

/// A caller's place in line: what its helper waits for before taking the
/// lock, for that caller alone. `()`: no line, any queued caller may take
/// any lock the helper got. Places are taken in line order (see
/// [`Waiting::queue`]).
pub(crate) trait Place: Clone + Send + 'static {
    /// Whether a lock taken in `self`'s turn may be handed to `other`.
    fn may_serve(&self, other: &Self) -> bool;
}

/// `None` has no place in line, as `()`; a helper's callers are all `None`
/// or all `Some`.
impl<P: Place> Place for Option<P> {
    fn may_serve(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(place), Some(other)) => place.may_serve(other),
            _ => true,
        }
    }
}

impl Place for () {
    fn may_serve(&self, (): &Self) -> bool {
        true
    }
}

/// What the timer wakes when a deadline comes.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

/// Where one caller's outcome arrives, and how the caller is told.
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    filled: Condvar,
    /// The path as this caller gave it.
    called: PathBuf,
}

struct SlotState<T> {
    outcome: Option<T>,
    /// The task to wake, for async callers.
    waker: Option<Waker>,
}

impl<T: Handed> Slot<T> {
    fn new(called: &Path) -> Self {
        Self {
            state: Mutex::new(SlotState {
                outcome: None,
                waker: None,
            }),
            filled: Condvar::new(),
            called: called.to_path_buf(),
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fill(&self, outcome: T) {
        let outcome = outcome.for_caller(&self.called);
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
}

impl<T: Handed> Wake for Slot<T> {
    /// Wakes an async caller without an outcome: its deadline has come.
    fn wake(&self) {
        if let Some(waker) = self.state().waker.take() {
            waker.wake();
        }
    }
}

/// A queued caller: its slot and its place in line.
struct Queued<T, P> {
    slot: Arc<Slot<T>>,
    place: P,
}

type Lines<K, T, P> = HashMap<K, VecDeque<Queued<T, P>>>;

/// The callers queued on each helper, by key, in the order they joined.
pub(crate) struct Queues<K, T, P = ()> {
    queues: Mutex<Lines<K, T, P>>,
    /// A lock per key, held while a caller takes its place and joins the
    /// line: taking a place may block (a fair ticket: an open, and a lock of
    /// the queue file's counter that another process holds for a moment, or
    /// longer if it is stopped), so it is not done under `queues`, which
    /// every wait, timeout and hand-over of the process needs. An entry lives
    /// while a caller uses it.
    joining: Mutex<HashMap<K, Arc<Mutex<()>>>>,
}

impl<K, T, P> Default for Queues<K, T, P> {
    fn default() -> Self {
        Self {
            queues: Mutex::new(HashMap::new()),
            joining: Mutex::new(HashMap::new()),
        }
    }
}

/// How a caller finds its queues again when it leaves: through a function,
/// not a reference, so that a child forked without exec, which starts with
/// queues of its own, never touches its parent's mutex.
pub(crate) type QueuesOf<K, T, P> = fn() -> &'static Queues<K, T, P>;

impl<K: Copy + Eq + Hash, T: Handed, P: Place> Queues<K, T, P> {
    fn lock(&self) -> MutexGuard<'_, Lines<K, T, P>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `join` under `key`'s joining lock.
    fn joining<R>(&self, key: K, join: impl FnOnce() -> R) -> R {
        let joining = || self.joining.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(
            joining()
                .entry(key)
                .or_insert_with(|| Arc::new(Mutex::new(()))),
        );
        let joined = {
            let _joining = lock.lock().unwrap_or_else(PoisonError::into_inner);
            join()
        };
        // The last one out forgets the key's lock: clones are made under
        // `joining` only, so a count of one there is the map's alone.
        let mut locks = joining();
        drop(lock);
        if locks
            .get(&key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&key);
        }
        joined
    }

    /// The place of the first caller queued on `key`'s helper; `None` when
    /// none is left, when the helper's entry goes, under the same lock, so a
    /// caller arriving after that starts a new helper.
    fn first(&self, key: K) -> Option<P> {
        let mut queues = self.lock();
        let first = queues.get(&key)?.front().map(|queued| queued.place.clone());
        if first.is_none() {
            queues.remove(&key);
        }
        first
    }

    /// Whether the first caller queued on `key`'s helper may take a lock
    /// taken in `turn`: it is still there, nobody came before it.
    fn still_first(&self, key: K, turn: &P) -> bool {
        self.lock()
            .get(&key)
            .and_then(VecDeque::front)
            .is_some_and(|queued| turn.may_serve(&queued.place))
    }

    /// Gives the outcome, taken in `turn`, to the first caller queued if it
    /// may have it, and says whether more are queued. A helper with none
    /// left removes its entry under the same lock, so a caller arriving after
    /// that starts a new helper. An outcome nobody took is dropped on return,
    /// which releases the lock at once.
    ///
    /// The slot is filled after the queue lock is released, so the woken
    /// caller never waits for that lock; a caller that gave up in between
    /// left its slot to the helper alone, and the outcome is dropped with it.
    fn hand_over(&self, key: K, turn: &P, outcome: T) -> bool {
        let (first, more) = {
            let mut queues = self.lock();
            let Some(queue) = queues.get_mut(&key) else {
                return false;
            };
            let first = if queue
                .front()
                .is_some_and(|queued| turn.may_serve(&queued.place))
            {
                queue.pop_front()
            } else {
                None
            };
            let more = !queue.is_empty();
            if !more {
                queues.remove(&key);
            }
            (first, more)
        };
        if let Some(queued) = first {
            queued.slot.fill(outcome);
        }
        more
    }
}

/// A helper's loop: for the first caller queued, `take` waits for its turn
/// (asking `still_first` whether to go on) and the lock; over and over,
/// until nobody is queued.
pub(crate) fn run_helper<K: Copy + Eq + Hash, T: Handed, P: Place>(
    queues: QueuesOf<K, T, P>,
    key: K,
    mut take: impl FnMut(&P, &dyn Fn() -> bool) -> T,
) {
    while let Some(turn) = queues().first(key) {
        let outcome = take(&turn, &|| queues().still_first(key, &turn));
        if !queues().hand_over(key, &turn, outcome) {
            return;
        }
    }
}

/// A caller's place in a helper's queue. Dropping it leaves the queue and
/// releases a lock that arrived too late: waiting is cancel-safe by construction.
pub(crate) struct Waiting<K: Copy + Eq + Hash + 'static, T: Handed, P: Place = ()> {
    queues: QueuesOf<K, T, P>,
    key: K,
    slot: Arc<Slot<T>>,
    /// False once an outcome arrived (the helper took the slot off the queue)
    /// or the caller left.
    queued: bool,
}

impl<K: Copy + Eq + Hash + 'static, T: Handed, P: Place> Waiting<K, T, P> {
    /// Queues the caller that named the file `called` on the helper for
    /// `key`, at the place `place` gives it; if there is no helper, calls
    /// `start_helper`, under the queues' lock, so no second one starts
    /// meanwhile. The place is taken and the line joined under `key`'s
    /// joining lock, so places (the fair mode's tickets) are taken in the
    /// order callers join the line. Taken before, two threads could join in
    /// the other order, and a helper would wait for the later one's turn,
    /// which waits for the earlier one, which waits for the helper (the
    /// model checker's `fair_callers_on_one_helper_are_served_in_ticket_order`
    /// deadlocks then). Not under the queues' lock: taking a place may
    /// block, and other keys' waits and hand-overs go on meanwhile.
    pub(crate) fn queue<E>(
        queues: QueuesOf<K, T, P>,
        key: K,
        called: &Path,
        place: impl FnOnce() -> Result<P, E>,
        start_helper: impl FnOnce() -> Result<(), E>,
    ) -> Result<Self, E> {
        let slot = Arc::new(Slot::new(called));
        queues().joining(key, || {
            let entry = Queued {
                slot: Arc::clone(&slot),
                place: place()?,
            };
            let mut map = queues().lock();
            if let Some(queue) = map.get_mut(&key) {
                queue.push_back(entry);
            } else {
                start_helper()?;
                map.insert(key, VecDeque::from([entry]));
            }
            Ok(())
        })?;
        Ok(Self {
            queues,
            key,
            slot,
            queued: true,
        })
    }

    /// Blocks the calling thread until the outcome arrives or `deadline` passes.
    pub(crate) fn wait_until(mut self, deadline: Instant) -> Option<T> {
        let mut state = self.slot.state();
        loop {
            if let Some(outcome) = state.outcome.take() {
                drop(state);
                self.queued = false;
                return Some(outcome);
            }
            let now = sync::now();
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
        // An outcome handed over right at the deadline is still taken.
        self.leave()
    }

    /// The outcome if it has arrived; otherwise `waker` is woken when it does.
    fn poll(&mut self, waker: &Waker) -> Option<T> {
        let mut state = self.slot.state();
        let outcome = state.outcome.take();
        if outcome.is_some() {
            self.queued = false;
        } else if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        outcome
    }

    /// For async callers: `Ready` with the outcome once it has arrived, or
    /// with `None` once `deadline` has passed without one (the queue left);
    /// otherwise `waker` is woken when the outcome arrives. The caller has
    /// the timer wake it at the deadline.
    pub(crate) fn poll_until(
        &mut self,
        deadline: Option<Instant>,
        waker: &Waker,
    ) -> Poll<Option<T>> {
        if let Some(outcome) = self.poll(waker) {
            return Poll::Ready(Some(outcome));
        }
        // The clock is read after the waker is registered: a timer that
        // fires after this read finds the waker, and one that fired before
        // it leaves the deadline passed here. (Read before, a deadline
        // passing in between woke nobody and the task slept on: the model
        // checker found that.)
        if deadline.is_none_or(|at| sync::now() < at) {
            return Poll::Pending;
        }
        Poll::Ready(self.withdraw())
    }

    /// The slot, for waking the caller at its deadline.
    pub(crate) fn slot(&self) -> &Arc<Slot<T>> {
        &self.slot
    }

    /// Leaves the queue, returning an outcome that arrived before that.
    pub(crate) fn leave(mut self) -> Option<T> {
        self.withdraw()
    }

    /// Leaves the queue and takes what reached the slot before that (a lock
    /// handed over right at the deadline is still the caller's). One still
    /// on its way is dropped with the slot when the helper lets go of it.
    fn withdraw(&mut self) -> Option<T> {
        self.dequeue();
        self.slot.state().outcome.take()
    }

    fn dequeue(&mut self) {
        if std::mem::take(&mut self.queued)
            && let Some(queue) = (self.queues)().lock().get_mut(&self.key)
        {
            queue.retain(|queued| !Arc::ptr_eq(&queued.slot, &self.slot));
        }
    }
}

impl<K: Copy + Eq + Hash + 'static, T: Handed, P: Place> Drop for Waiting<K, T, P> {
    fn drop(&mut self) {
        // An outcome nobody will take: dropping it releases the lock.
        drop(self.withdraw());
    }
}
