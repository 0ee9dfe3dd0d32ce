//! Model-checking the hand-over: the queue, the slots, the timer and
//! cancellation, run under the `shuttle` scheduler explorer with a model lock
//! in place of the lock file. The code under test is the production code of
//! `handover.rs` and `timer.rs`; only the threads, mutexes, condition
//! variables and the clock are the explorer's (`sync.rs`). Run by
//! `.ci/model-check` (from the README's test command):
//! `RUSTFLAGS="--cfg shuttle" cargo test -p scoped-lockfile --lib handover::model`.
//!
//! What each execution checks: a caller that waits to the end always gets the
//! lock (a lost hand-over or a lost wake-up leaves it blocked, which the
//! explorer reports as a deadlock); every helper exits once nobody is queued;
//! and when everyone is done the lock is free (a lock handed to a caller that
//! gave up was released, not kept).
//!
//! Why shuttle and not loom: loom explores every interleaving, which is out
//! of reach for three or four threads sharing a map, a queue, slots and a
//! timer, while shuttle's PCT scheduler gives a probabilistic guarantee for
//! bugs of small depth in a bounded number of runs, which fits the test
//! command's couple of minutes. loom's `Arc` also has no `Weak`, on which the
//! timer and the fair mode's helpers rely, and its `Condvar` cannot time out
//! either. shuttle's timed waits never time out, so time is a model clock the
//! test moves (`sync::now`), and whether a deadline passed before or after a
//! hand-over is one more choice the explorer makes.

use std::future::poll_fn;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use shuttle::sync::{Condvar, Mutex};
use shuttle::{future, thread};

use super::{Handed, Queues, Waiting, hand_to, run_helper};
use crate::{sync, timer};

/// Schedules explored per test, and the bug depth PCT aims for.
const RUNS: usize = 3000;
const DEPTH: usize = 3;

fn check(test: impl Fn() + Send + Sync + 'static) {
    shuttle::check_pct(test, RUNS, DEPTH);
}

/// The lock file, as far as the hand-over can tell: one holder at a time,
/// taken by blocking, released by dropping the [`Token`].
#[derive(Default)]
struct Lock {
    held: Mutex<bool>,
    freed: Condvar,
}

struct Token(Arc<Lock>);

impl Lock {
    fn take(self: &Arc<Self>) -> Token {
        let mut held = self.held.lock().unwrap();
        while *held {
            held = self.freed.wait(held).unwrap();
        }
        *held = true;
        Token(Arc::clone(self))
    }

    fn is_held(&self) -> bool {
        *self.held.lock().unwrap()
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        *self.0.held.lock().unwrap() = false;
        self.0.freed.notify_all();
    }
}

impl Handed for Token {
    fn for_caller(self, _called: &Path) -> Self {
        self
    }
}

const KEY: u8 = 0;

/// This execution's queues, as `wait.rs` has one per process.
fn queues() -> &'static Queues<u8, Token> {
    shuttle::lazy_static! {
        static ref QUEUES: Queues<u8, Token> = Queues::default();
    }
    &QUEUES
}

/// One execution: the lock, held by someone outside to begin with, and a
/// count of the helper threads still running.
struct World {
    lock: Arc<Lock>,
    helpers: Arc<(Mutex<usize>, Condvar)>,
}

impl World {
    fn held() -> (Self, Token) {
        let lock = Arc::new(Lock::default());
        let outside = lock.take();
        let helpers = Arc::default();
        (Self { lock, helpers }, outside)
    }

    fn helpers(&self) -> usize {
        *self.helpers.0.lock().unwrap()
    }

    /// Queues a caller as `wait::start` does; its helper, if it starts one,
    /// takes the model lock where the real one blocks in flock(2).
    fn start(&self) -> Waiting<u8, Token> {
        let (lock, helpers) = (Arc::clone(&self.lock), Arc::clone(&self.helpers));
        Waiting::queue(queues, KEY, Path::new("model.lock"), || {
            *helpers.0.lock().unwrap() += 1;
            thread::spawn(move || {
                run_helper(queues, KEY, || lock.take());
                *helpers.0.lock().unwrap() -= 1;
                helpers.1.notify_all();
            });
            Ok::<(), ()>(())
        })
        .expect("starting a model helper cannot fail")
    }

    /// A caller with a helper of its own, as `wait::start_fair` does.
    fn start_alone(&self) -> Waiting<u8, Token> {
        let (waiting, waiter): (_, Weak<_>) = Waiting::alone(Path::new("model.lock"));
        let (lock, helpers) = (Arc::clone(&self.lock), Arc::clone(&self.helpers));
        *helpers.0.lock().unwrap() += 1;
        thread::spawn(move || {
            // As the fair helper: a caller that left is not served.
            if waiter.strong_count() > 0 {
                hand_to(&waiter, lock.take());
            }
            *helpers.0.lock().unwrap() -= 1;
            helpers.1.notify_all();
        });
        waiting
    }

    /// Once everyone is done: every helper exits, and the lock is free.
    fn finish(self) {
        let (alive, exited) = &*self.helpers;
        let mut alive = alive.lock().unwrap();
        while *alive > 0 {
            alive = exited.wait(alive).unwrap();
        }
        assert!(!self.lock.is_held(), "a lock nobody holds was left held");
    }
}

/// A deadline the model never reaches: a caller waiting to the end.
fn never() -> Instant {
    sync::now() + Duration::from_secs(3600)
}

#[test]
fn a_caller_giving_up_while_the_helper_hands_over() {
    check(|| {
        let (world, outside) = World::held();
        let quitter = world.start();
        let stayer = world.start();
        let release = thread::spawn(move || drop(outside));
        // Its deadline has passed: it takes an outcome already there (a
        // lock handed over right at the deadline is still the caller's) or
        // leaves, racing the helper's hand-over.
        let quit = thread::spawn(move || quitter.wait_until(sync::now()).map(drop));
        let got = stayer.wait_until(never());
        assert!(
            got.is_some(),
            "the caller behind one that gave up gets the lock"
        );
        drop(got);
        quit.join().unwrap();
        release.join().unwrap();
        world.finish();
    });
}

#[test]
fn two_callers_on_one_helper_each_get_the_lock_in_turn() {
    check(|| {
        let (world, outside) = World::held();
        let first = world.start();
        let second = world.start();
        assert_eq!(
            world.helpers(),
            1,
            "the second caller queues on the first one's helper"
        );
        let callers: Vec<_> = [first, second]
            .into_iter()
            .map(|waiting| {
                thread::spawn(move || {
                    let token = waiting.wait_until(never());
                    assert!(token.is_some(), "a queued caller gets the lock");
                })
            })
            .collect();
        drop(outside);
        // A third arrives while the helper hands over and may be leaving:
        // it queues on that helper or starts the next one, never neither.
        let late = world.start();
        assert!(
            late.wait_until(never()).is_some(),
            "a late caller gets the lock"
        );
        for caller in callers {
            caller.join().unwrap();
        }
        world.finish();
    });
}

/// An async wait with a deadline one second away, as `LockFuture` waits: a
/// place in the queue, the deadline with the timer, and polls until one or
/// the other. The model clock passes that second where the explorer picks.
fn wait_async_for_a_second(world: &World) -> Option<Token> {
    let at = sync::now() + Duration::from_secs(1);
    let mut waiting = world.start();
    let deadline = timer::wake_at(at, Arc::downgrade(waiting.slot())).unwrap();
    let clock = thread::spawn(|| timer::advance_clock(1));
    let got = future::block_on(poll_fn(|cx| waiting.poll_until(Some(at), cx.waker())));
    drop((deadline, waiting));
    clock.join().unwrap();
    got
}

#[test]
fn a_deadline_firing_during_the_hand_over() {
    check(|| {
        let (world, outside) = World::held();
        let release = thread::spawn(move || drop(outside));
        drop(wait_async_for_a_second(&world));
        // Behind it, a caller without a deadline still gets the lock.
        let after = world.start();
        assert!(
            after.wait_until(never()).is_some(),
            "the next caller gets the lock"
        );
        release.join().unwrap();
        world.finish();
    });
}

#[test]
fn a_deadline_firing_while_the_lock_stays_held() {
    check(|| {
        let (world, outside) = World::held();
        // Only the timer can end this wait.
        assert!(
            wait_async_for_a_second(&world).is_none(),
            "the lock is held: the wait ends at its deadline"
        );
        drop(outside);
        world.finish();
    });
}

#[test]
fn a_caller_with_a_helper_of_its_own_leaving_before_the_hand_over() {
    check(|| {
        let (world, outside) = World::held();
        let quitter = world.start_alone();
        let release = thread::spawn(move || drop(outside));
        drop(quitter.wait_until(sync::now()));
        release.join().unwrap();
        // Its helper hands over to nobody or to a caller gone by then:
        // either way the lock is released, which this caller then sees.
        let next = world.start_alone();
        assert!(next.wait_until(never()).is_some(), "the lock was let go");
        world.finish();
    });
}
