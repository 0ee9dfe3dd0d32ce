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
//! command's couple of minutes. loom's `Arc` also has no `Weak` (0.7), on
//! which the timer relies, and its `Condvar` cannot time out either.
//! shuttle's timed waits never time out, so time is a model clock the
//! test moves (`sync::now`), and whether a deadline passed before or after a
//! hand-over is one more choice the explorer makes.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shuttle::sync::{Condvar, Mutex};
use shuttle::{future, thread};

use super::{Handed, Place, Queues, QueuesOf, Waiting, run_helper};
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

/// The fair mode's queue file, as far as the hand-over can tell: tickets
/// taken in order, and a ticket's turn comes once no earlier one is left.
#[derive(Default)]
struct Line {
    /// The next number, and the tickets alive.
    tickets: Mutex<(u64, BTreeSet<u64>)>,
    left: Condvar,
}

/// A place in the [`Line`], left when dropped.
struct Ticket {
    line: Arc<Line>,
    number: u64,
}

impl Ticket {
    fn take(line: &Arc<Line>) -> Self {
        let mut tickets = line.tickets.lock().unwrap();
        let number = tickets.0;
        tickets.0 += 1;
        tickets.1.insert(number);
        Self {
            line: Arc::clone(line),
            number,
        }
    }

    fn turn(&self) -> Turn {
        Turn {
            line: Arc::clone(&self.line),
            number: self.number,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.line.tickets.lock().unwrap().1.remove(&self.number);
        self.line.left.notify_all();
    }
}

#[derive(Clone)]
struct Turn {
    line: Arc<Line>,
    number: u64,
}

impl Turn {
    fn wait(&self) {
        let mut tickets = self.line.tickets.lock().unwrap();
        while tickets.1.first().is_some_and(|first| *first < self.number) {
            tickets = self.line.left.wait(tickets).unwrap();
        }
    }
}

impl Place for Turn {
    fn may_serve(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

/// What a fair helper hands over: `None` to a caller that left while the
/// helper waited for its turn.
impl Handed for Option<Token> {
    fn for_caller(self, _called: &Path) -> Self {
        self
    }
}

/// This execution's fair queues, as `wait.rs` keys fair helpers apart.
fn fair_queues() -> &'static Queues<u8, Option<Token>, Option<Turn>> {
    shuttle::lazy_static! {
        static ref QUEUES: Queues<u8, Option<Token>, Option<Turn>> = Queues::default();
    }
    &QUEUES
}

/// One execution: the lock, held by someone outside to begin with, its fair
/// line, and a count of the helper threads still running.
struct World {
    lock: Arc<Lock>,
    line: Arc<Line>,
    helpers: Arc<(Mutex<usize>, Condvar)>,
}

impl World {
    fn held() -> (Self, Token) {
        let lock = Arc::new(Lock::default());
        let outside = lock.take();
        let world = Self {
            lock,
            line: Arc::default(),
            helpers: Arc::default(),
        };
        (world, outside)
    }

    fn helpers(&self) -> usize {
        *self.helpers.0.lock().unwrap()
    }

    /// Starts a helper as `wait::spawn_helper` does, counted while it runs.
    fn spawn_helper<T: Handed, P: Place>(
        &self,
        queues: QueuesOf<u8, T, P>,
        take: impl FnMut(&P, &dyn Fn() -> bool) -> T + Send + 'static,
    ) {
        let helpers = Arc::clone(&self.helpers);
        *helpers.0.lock().unwrap() += 1;
        thread::spawn(move || {
            run_helper(queues, KEY, take);
            *helpers.0.lock().unwrap() -= 1;
            helpers.1.notify_all();
        });
    }

    /// Queues a caller as `wait::start` does; its helper, if it starts one,
    /// takes the model lock where the real one blocks in flock(2).
    fn start(&self) -> Waiting<u8, Token> {
        let lock = Arc::clone(&self.lock);
        Waiting::queue(
            queues,
            KEY,
            Path::new("model.lock"),
            || Ok(()),
            || {
                self.spawn_helper(queues, move |(), _| lock.take());
                Ok::<(), ()>(())
            },
        )
        .expect("starting a model helper cannot fail")
    }

    /// Queues a fair caller as `wait::start_fair` does: a ticket taken
    /// under the queues' lock, and a helper that waits for the first
    /// caller's turn, and does not take the lock for one that left.
    fn start_fair(&self) -> (Waiting<u8, Option<Token>, Option<Turn>>, Ticket) {
        let lock = Arc::clone(&self.lock);
        let mut ticket = None;
        let waiting = Waiting::queue(
            fair_queues,
            KEY,
            Path::new("model.lock"),
            || Ok(Some(ticket.insert(Ticket::take(&self.line)).turn())),
            || {
                self.spawn_helper(fair_queues, move |turn: &Option<Turn>, still_first| {
                    turn.as_ref().expect("fair callers have turns").wait();
                    still_first().then(|| lock.take())
                });
                Ok::<(), ()>(())
            },
        )
        .expect("starting a model helper cannot fail");
        (waiting, ticket.expect("taken when queued"))
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

/// Two fair callers of this process on one helper, in separate threads, and
/// a ticket taken before theirs (another process's): the helper serves them
/// in ticket order once the earlier ticket leaves, each gets the lock.
#[test]
fn fair_callers_on_one_helper_are_served_in_ticket_order() {
    check(|| {
        let (world, outside) = World::held();
        let earlier = Ticket::take(&world.line);
        let world = Arc::new(world);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let world = Arc::clone(&world);
                thread::spawn(move || {
                    let (waiting, ticket) = world.start_fair();
                    let token = waiting.wait_until(never());
                    assert!(token.flatten().is_some(), "a fair caller gets the lock");
                    drop(ticket);
                })
            })
            .collect();
        let release = thread::spawn(move || drop((earlier, outside)));
        for caller in callers {
            caller.join().unwrap();
        }
        release.join().unwrap();
        Arc::into_inner(world).expect("all callers done").finish();
    });
}

/// A fair caller gives up while the helper waits for its turn: the helper
/// moves on to the next caller's turn, which gets the lock.
#[test]
fn a_fair_caller_leaving_while_the_helper_waits_for_its_turn() {
    check(|| {
        let (world, outside) = World::held();
        let earlier = Ticket::take(&world.line);
        let (quitter, quitter_ticket) = world.start_fair();
        let (stayer, stayer_ticket) = world.start_fair();
        let release = thread::spawn(move || drop((earlier, outside)));
        let quit = thread::spawn(move || {
            drop(quitter.wait_until(sync::now()));
            drop(quitter_ticket);
        });
        let got = stayer.wait_until(never()).flatten();
        assert!(
            got.is_some(),
            "the caller behind one that gave up gets the lock"
        );
        drop((got, stayer_ticket));
        quit.join().unwrap();
        release.join().unwrap();
        world.finish();
    });
}
