//! Many threads and async tasks on one lock: random timeouts, cancellations,
//! guards moved to other threads before release. Never two holders at once;
//! free at the end; no thread of ours left once nothing waits. Its own test
//! binary, with one test, so no other test's threads are counted.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions, Probe, probe};
use support::{XorShift, trials};
#[cfg(target_os = "linux")]
use support::{settle_to, thread_count};

/// A held lock that counts itself as inside the critical section until
/// dropped; it leaves the count *before* the lock is released (fields drop
/// after `drop` runs), so a correct lock never shows two inside.
struct Inside {
    _lock: LockFile,
    inside: Arc<AtomicUsize>,
}

impl Inside {
    fn enter(lock: LockFile, inside: &Arc<AtomicUsize>, overlaps: &AtomicUsize) -> Self {
        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
            overlaps.fetch_add(1, Ordering::SeqCst);
        }
        Self {
            _lock: lock,
            inside: Arc::clone(inside),
        }
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Tally {
    taken: AtomicUsize,
    gave_up: AtomicUsize,
    cancelled: AtomicUsize,
    overlaps: AtomicUsize,
}

/// A random wait: one try, a few milliseconds, or forever.
fn options(rng: &mut XorShift) -> LockOptions {
    match rng.below(4) {
        0 => LockOptions::new().timeout(Duration::ZERO),
        1 => LockOptions::new().wait_forever(),
        _ => LockOptions::new().timeout(Duration::from_micros(rng.below(5_000) as u64)),
    }
}

/// What every worker shares.
#[derive(Clone)]
struct Shared {
    path: Arc<PathBuf>,
    inside: Arc<AtomicUsize>,
    tally: Arc<Tally>,
    /// Guards sent here are held a moment longer, then dropped on that thread.
    to_dropper: mpsc::Sender<Inside>,
}

impl Shared {
    fn enter(&self, result: Result<LockFile, LockError>) -> Option<Inside> {
        match result {
            Ok(lock) => {
                self.tally.taken.fetch_add(1, Ordering::SeqCst);
                Some(Inside::enter(lock, &self.inside, &self.tally.overlaps))
            }
            Err(LockError::Contended { .. } | LockError::Timeout { .. }) => {
                self.tally.gave_up.fetch_add(1, Ordering::SeqCst);
                None
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

fn blocking_worker(shared: &Shared, seed: u64, rounds: usize) {
    let mut rng = XorShift::new(seed);
    for _ in 0..rounds {
        let Some(held) = shared.enter(options(&mut rng).lock(&*shared.path)) else {
            continue;
        };
        if rng.below(2) == 0 {
            shared.to_dropper.send(held).unwrap();
        } else {
            thread::sleep(Duration::from_micros(rng.below(300) as u64));
            drop(held);
        }
    }
}

async fn async_worker(shared: Shared, seed: u64, rounds: usize) {
    let mut rng = XorShift::new(seed);
    for _ in 0..rounds {
        let attempt = options(&mut rng).lock_async(&*shared.path);
        // Sometimes cancelled from outside, before its own timeout.
        let result = if rng.below(3) == 0 {
            let cancel_after = Duration::from_micros(rng.below(3_000) as u64);
            let Ok(result) = tokio::time::timeout(cancel_after, attempt).await else {
                shared.tally.cancelled.fetch_add(1, Ordering::SeqCst);
                continue;
            };
            result
        } else {
            attempt.await
        };
        let Some(held) = shared.enter(result) else {
            continue;
        };
        match rng.below(3) {
            0 => shared.to_dropper.send(held).unwrap(),
            // Held across an await, possibly resumed on another worker thread.
            1 => {
                tokio::task::yield_now().await;
                drop(held);
            }
            _ => drop(held),
        }
    }
}

#[test]
fn threads_and_tasks_never_overlap_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    #[cfg(target_os = "linux")] // threads are counted in /proc
    let baseline = thread_count();
    let rounds = trials(500, 5000);
    let (to_dropper, guards) = mpsc::channel::<Inside>();
    let shared = Shared {
        path: Arc::new(dir.path().join("stress.lock")),
        inside: Arc::default(),
        tally: Arc::default(),
        to_dropper,
    };
    let dropper = thread::spawn(move || {
        for guard in guards {
            thread::sleep(Duration::from_micros(200));
            drop(guard);
        }
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let threads: Vec<_> = (1..=6)
        .map(|seed| {
            let shared = shared.clone();
            thread::spawn(move || blocking_worker(&shared, seed, rounds))
        })
        .collect();
    let tasks: Vec<_> = (101..=106)
        .map(|seed| runtime.spawn(async_worker(shared.clone(), seed, rounds)))
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    runtime.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    let Shared {
        path,
        tally,
        to_dropper,
        ..
    } = shared;
    drop(to_dropper); // the last sender: the dropper drains its channel and ends
    dropper.join().unwrap();
    drop(runtime);

    let taken = tally.taken.load(Ordering::SeqCst);
    println!(
        "COUNT stress: {taken} taken, {} gave up, {} cancelled, {} overlaps, {rounds} rounds x 12 workers",
        tally.gave_up.load(Ordering::SeqCst),
        tally.cancelled.load(Ordering::SeqCst),
        tally.overlaps.load(Ordering::SeqCst),
    );
    assert_eq!(
        tally.overlaps.load(Ordering::SeqCst),
        0,
        "two holders at once"
    );
    assert!(taken > 0);
    // Free once the helpers that got the lock after their callers left have
    // let it go: at once on Linux, a few milliseconds later under Wine.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !matches!(probe(&*path).unwrap(), Probe::Free { .. }) {
        assert!(
            std::time::Instant::now() < deadline,
            "still held at the end"
        );
        thread::sleep(Duration::from_millis(5));
    }
    // Helpers that got the lock after their callers left have let it go and
    // ended; the timer has nothing to wait for.
    #[cfg(target_os = "linux")]
    assert_eq!(
        settle_to(baseline),
        baseline,
        "threads of ours stayed behind"
    );
}
