//! The threads and blocking primitives of the waiting machinery: std's, or
//! under `--cfg shuttle` the scheduler explorer's, whose model-checking tests
//! (`handover/model.rs`) run the hand-over's own code through every
//! interleaving they explore. Nothing else changes between the two builds.

#[cfg(not(shuttle))]
pub(crate) use std::{
    sync::{Condvar, Mutex, MutexGuard},
    thread,
};

#[cfg(shuttle)]
pub(crate) use shuttle::{
    sync::{Condvar, Mutex, MutexGuard},
    thread,
};

/// The waiting machinery's clock: the deadlines of timed and async waits are
/// read against it.
#[cfg(not(shuttle))]
pub(crate) fn now() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(all(shuttle, test))]
pub(crate) use model_clock::advance_clock;
#[cfg(shuttle)]
pub(crate) use model_clock::now;

/// Under the scheduler explorer, a clock that moves only when the model says
/// so: whether a deadline has passed is then one more choice the explorer
/// makes, replayable, instead of whatever real time did.
#[cfg(shuttle)]
mod model_clock {
    use std::time::{Duration, Instant};

    use shuttle::sync::atomic::{AtomicU64, Ordering};

    shuttle::lazy_static! {
        static ref START: Instant = Instant::now();
        static ref SECONDS: AtomicU64 = AtomicU64::new(0);
    }

    pub(crate) fn now() -> Instant {
        *START + Duration::from_secs(SECONDS.load(Ordering::SeqCst))
    }

    #[cfg(test)]
    pub(crate) fn advance_clock(seconds: u64) {
        SECONDS.fetch_add(seconds, Ordering::SeqCst);
    }
}
