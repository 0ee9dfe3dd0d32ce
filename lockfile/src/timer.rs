//! Deadlines for async waits: no runtime is assumed, so one thread per process
//! wakes the tasks whose timeout has come. It starts with the first deadline and
//! exits when none is left.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::Instant;

use crate::wait::Slot;

struct Timer {
    /// A handful at a time in practice: a scan beats a heap.
    deadlines: Vec<(Instant, Weak<Slot>)>,
    running: bool,
}

static TIMER: Mutex<Timer> = Mutex::new(Timer {
    deadlines: Vec::new(),
    running: false,
});
static CHANGED: Condvar = Condvar::new();

fn timer() -> MutexGuard<'static, Timer> {
    TIMER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes the task waiting on `slot` at `deadline`, unless the slot is gone by then.
pub(crate) fn wake_at(deadline: Instant, slot: Weak<Slot>) -> std::io::Result<()> {
    let mut timer = timer();
    if !timer.running {
        thread::Builder::new()
            .name("lockfile-timer".to_owned())
            .spawn(run)?;
        timer.running = true;
    }
    timer.deadlines.push((deadline, slot));
    CHANGED.notify_one();
    Ok(())
}

fn run() {
    let mut timer = timer();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        timer.deadlines.retain(|(deadline, slot)| {
            if *deadline > now {
                return slot.strong_count() > 0;
            }
            due.extend(slot.upgrade());
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
        let Some(next) = timer.deadlines.iter().map(|(deadline, _)| *deadline).min() else {
            timer.running = false;
            return;
        };
        timer = CHANGED
            .wait_timeout(timer, next - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}
