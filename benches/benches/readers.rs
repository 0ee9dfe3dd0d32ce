//! Readers and a writer on one lock: N reader threads take a shared lock over
//! and over while one writer takes the exclusive lock every few milliseconds.
//! Reported: the readers' throughput and the writer's wait, for this crate
//! (`LockOptions::shared()` and a plain `lock`) and for the same work through
//! std by hand (`lock_shared`/`lock` on a fresh open each time), in the same
//! run, as ratios to the latter.
//!
//! ```text
//! cargo bench -p lockfile-benches --bench readers
//! ```
//!
//! `flock(2)` gives waiting writers no priority: while readers overlap, a
//! writer waits until there is a gap, however long. The figures show that for
//! both sides alike; it is the kernel's policy, not ours.

use std::hint::black_box;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lockfile_benches::{Summary, XorShift, micros, monotonic_ns, open_rw};
use scoped_lockfile::LockOptions;

/// How long each configuration runs.
const RUN: Duration = Duration::from_millis(1500);
/// A reader holds the lock this long, then pauses this long before the next.
const READ_HOLD: Duration = Duration::from_micros(20);
const READ_GAP: Duration = Duration::from_micros(100);
/// The writer holds for this long, once every 2–6 ms.
const WRITE_HOLD: Duration = Duration::from_micros(200);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    StdByHand,
    Lockfile,
}

/// Busy-waits `d`: a sleep this short would measure the scheduler.
fn hold(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn read_once(side: Side, path: &Path) {
    match side {
        Side::StdByHand => {
            let file = open_rw(path);
            file.lock_shared().unwrap();
            hold(READ_HOLD);
        }
        Side::Lockfile => {
            let lock = LockOptions::new().shared().lock(path).unwrap();
            hold(READ_HOLD);
            drop(black_box(lock));
        }
    }
}

/// The writer's take, hold and release; the wait is the time to take.
fn write_once(side: Side, path: &Path, content: &[u8]) -> u64 {
    let started = monotonic_ns();
    match side {
        Side::StdByHand => {
            let file = open_rw(path);
            file.lock().unwrap();
            let waited = monotonic_ns() - started;
            file.write_all_at(content, 0).unwrap();
            file.set_len(content.len() as u64).unwrap();
            hold(WRITE_HOLD);
            waited
        }
        Side::Lockfile => {
            let lock = LockOptions::new().lock(path).unwrap();
            let waited = monotonic_ns() - started;
            hold(WRITE_HOLD);
            drop(black_box(lock));
            waited
        }
    }
}

struct Outcome {
    reads_per_sec: f64,
    writer_wait: Summary,
    writes: usize,
}

fn run(side: Side, readers: usize, path: &Path) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader_threads: Vec<_> = (0..readers)
        .map(|_| {
            let (stop, reads, path) = (Arc::clone(&stop), Arc::clone(&reads), path.to_path_buf());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    read_once(side, &path);
                    reads.fetch_add(1, Ordering::Relaxed);
                    hold(READ_GAP);
                }
            })
        })
        .collect();
    let content = format!(" {}\n", std::process::id()).into_bytes();
    let mut rng = XorShift::new(7);
    let mut waits = Vec::new();
    let started = Instant::now();
    while started.elapsed() < RUN {
        waits.push(write_once(side, path, &content));
        thread::sleep(Duration::from_micros(rng.between(2_000, 6_000)));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for thread in reader_threads {
        thread.join().unwrap();
    }
    Outcome {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        reads_per_sec: reads.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        writes: waits.len(),
        writer_wait: Summary::of(&mut waits),
    }
}

fn main() {
    let dir = tempfile::tempdir_in("/dev/shm").expect("tmpfs at /dev/shm");
    let path: PathBuf = dir.path().join("readers.lock");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "readers hold {READ_HOLD:?} every {:?}; a writer holds {WRITE_HOLD:?} every 2-6 ms; {RUN:?} per row",
        READ_HOLD + READ_GAP
    )
    .unwrap();
    writeln!(
        out,
        "{:>7}  {:>12} {:>12} {:>6}  {:>12} {:>12} {:>6}  {:>12} {:>12} {:>6}",
        "readers",
        "std reads/s",
        "ours",
        "ratio",
        "std wait p50",
        "ours",
        "ratio",
        "std wait p99",
        "ours",
        "ratio"
    )
    .unwrap();
    for readers in [1, 2, 4, 8] {
        let base = run(Side::StdByHand, readers, &path);
        let ours = run(Side::Lockfile, readers, &path);
        #[allow(clippy::cast_precision_loss)] // nanoseconds far below 2^52
        let ratio = |a: u64, b: u64| b as f64 / a.max(1) as f64;
        writeln!(
            out,
            "{readers:>7}  {:>12.0} {:>12.0} {:>6.2}  {:>12} {:>12} {:>6.2}  {:>12} {:>12} {:>6.2}   ({} / {} writes)",
            base.reads_per_sec,
            ours.reads_per_sec,
            ours.reads_per_sec / base.reads_per_sec,
            micros(base.writer_wait.p50),
            micros(ours.writer_wait.p50),
            ratio(base.writer_wait.p50, ours.writer_wait.p50),
            micros(base.writer_wait.p99),
            micros(ours.writer_wait.p99),
            ratio(base.writer_wait.p99, ours.writer_wait.p99),
            base.writes,
            ours.writes,
        )
        .unwrap();
    }
}
