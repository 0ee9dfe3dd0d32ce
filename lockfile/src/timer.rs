//! Deadlines for async waits: no runtime is assumed, so one thread per process
//! wakes the tasks whose timeout has come. It starts with the first deadline
//! and exits as soon as none is left: a deadline leaves when its wait ends,
//! however it ends, not when it would have expired.

use std::sync::{PoisonError, Weak};
use std::time::Instant;

use crate::handover::Wake;
use crate::sync::{self, Condvar, Mutex, MutexGuard, thread};

#[derive(Default)]
struct Timer {
    /// A handful at a time in practice: a scan beats a heap.
    deadlines: Vec<Entry>,
    next_id: u64,
    running: bool,
}

struct Entry {
    id: u64,
    at: Instant,
    slot: Weak<dyn Wake>,
}

#[derive(Default)]
struct Shared {
    timer: Mutex<Timer>,
    changed: Condvar,
}

/// This process's timer: a child forked without exec starts with none (its
/// parent's timer thread is not its own), and never touches its parent's
/// mutex, which a thread absent from the child may have held at the fork.
#[cfg(not(shuttle))]
static SHARED: crate::sys::PerProcess<Shared> = crate::sys::PerProcess::new();

#[cfg(not(shuttle))]
fn shared() -> &'static Shared {
    SHARED.get()
}

/// Under the scheduler explorer, a timer per explored execution: its
/// primitives belong to that execution.
#[cfg(shuttle)]
fn shared() -> &'static Shared {
    shuttle::lazy_static! {
        static ref SHARED: Shared = Shared::default();
    }
    &SHARED
}

fn timer() -> MutexGuard<'static, Timer> {
    shared()
        .timer
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A registered deadline; dropping it withdraws it.
#[derive(Debug)]
pub(crate) struct Deadline {
    id: u64,
}

/// Wakes the task waiting on `slot` at `at`, unless the returned [`Deadline`]
/// is dropped first.
pub(crate) fn wake_at(at: Instant, slot: Weak<impl Wake + 'static>) -> std::io::Result<Deadline> {
    let mut timer = timer();
    if !timer.running {
        thread::Builder::new()
            .name("lockfile-timer".to_owned())
            .spawn(run)?;
        timer.running = true;
    }
    let id = timer.next_id;
    timer.next_id += 1;
    timer.deadlines.push(Entry { id, at, slot });
    shared().changed.notify_one();
    Ok(Deadline { id })
}

impl Drop for Deadline {
    fn drop(&mut self) {
        let mut timer = timer();
        if let Some(at) = timer.deadlines.iter().position(|entry| entry.id == self.id) {
            timer.deadlines.swap_remove(at);
            // The thread may be sleeping towards this very deadline, or have
            // nothing left to wait for.
            shared().changed.notify_one();
        }
    }
}

fn run() {
    let mut timer = timer();
    loop {
        let now = sync::now();
        let mut due = Vec::new();
        timer.deadlines.retain(|entry| {
            if entry.at > now {
                return true;
            }
            due.extend(entry.slot.upgrade());
            false
        });
        if !due.is_empty() {
            drop(timer);
            for slot in &due {
                slot.wake();
            }
            timer = self::timer();
            continue;
        }
        let Some(next) = timer.deadlines.iter().map(|entry| entry.at).min() else {
            timer.running = false;
            return;
        };
        timer = shared()
            .changed
            .wait_timeout(timer, next - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Moves the model clock on, under the timer's lock, and tells the timer
/// thread: under the scheduler explorer its timed wait never times out by
/// itself, and it reads the clock under that lock, so it either sees the new
/// time or is waiting when told.
#[cfg(all(shuttle, test))]
pub(crate) fn advance_clock(seconds: u64) {
    let _timer = timer();
    sync::advance_clock(seconds);
    shared().changed.notify_one();
}
