//! Fair mode (`LockOptions::fair`) against the default mode, in one run:
//!
//! 1. The uncontended take and release, fair on a lock whose queue file its
//!    first take creates, and on one whose queue file exists (someone waited
//!    once), as ratios to the default mode's. Target (issue 23): at most
//!    1.2x. Both keep the queue file open after the first look, as any
//!    process taking a fair lock repeatedly does; a process's first look
//!    costs an `open` and a `close` more.
//! 2. A hot re-locker (takes the lock, holds it 100 µs, releases it and takes
//!    it again at once) and N = 2, 8, 32 waiters (each sleeps 0-2 ms, then
//!    takes the lock, holds it 100 µs, releases it), all threads of this
//!    process (each open is a participant of its own, as a process is): the
//!    waiters' worst and p99 wait, default against fair.
//!
//! ```sh
//! cargo bench -p lockfile-benches --bench fair            # ~10 s
//! FAIR_BENCH_SECS=0.2 cargo bench -p lockfile-benches --bench fair   # a smoke run
//! ```
//!
//! Linux only (fair locks are); elsewhere it says so and exits.

// Counts, nanoseconds and indexes here are far below 2^52, and positive.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scoped_lockfile::LockOptions;

const HOLD: Duration = Duration::from_micros(100);

fn main() {
    if !cfg!(target_os = "linux") {
        println!("fair locks are Linux's only: nothing to measure here");
        return;
    }
    let secs: f64 = std::env::var("FAIR_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let dir = tempfile::tempdir_in("/dev/shm").expect("tmpfs at /dev/shm");
    uncontended(dir.path(), "tmpfs", secs);
    // tmpfs keeps no negative dentries: the look for a missing queue file
    // walks the directory under its lock every time. A disk's does not.
    let disk = tempfile::tempdir_in(target_dir()).expect("a directory on disk");
    uncontended(disk.path(), "disk", secs);
    for waiters in [2, 8, 32] {
        contended(dir.path(), waiters, Duration::from_secs_f64(secs));
    }
}

/// Median ns per take and release of each variant, over interleaved batches.
fn uncontended(dir: &Path, fs: &str, secs: f64) {
    let default = LockOptions::new();
    let fair = LockOptions::new().fair();
    let plain = dir.join("plain.lock");
    let no_queue = dir.join("no-queue.lock");
    let queued_once = dir.join("queued-once.lock");
    // A queue file, as one waiter anywhere in the lock's past leaves behind.
    std::fs::write(dir.join("queued-once.lock.queue"), 0_u64.to_le_bytes()).unwrap();
    let variants: [(&str, &LockOptions, &Path); 3] = [
        ("default (baseline)", &default, &plain),
        ("fair, queue file created", &fair, &no_queue),
        ("fair, queue file present", &fair, &queued_once),
    ];
    let batch = 2000;
    let rounds = ((secs * 15.0) as usize).max(3);
    let mut samples = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        // Each variant goes first in turn: no one pays for a cold start.
        for i in (0..variants.len()).map(|i| (i + round) % variants.len()) {
            let (_, options, path) = variants[i];
            let started = Instant::now();
            for _ in 0..batch {
                options.lock(path).unwrap().close().unwrap();
            }
            samples[i].push(started.elapsed().as_nanos() as f64 / f64::from(batch));
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("uncontended take + close, median of {rounds} interleaved batches of {batch} ({fs})");
    for ((name, _, _), ns) in variants.iter().zip(&medians) {
        println!("  {name:<26} {ns:>8.0} ns  {:.2}x", ns / medians[0]);
    }
}

/// The waiters' waits under a hot re-locker, default mode then fair mode.
fn contended(dir: &Path, waiters: usize, run: Duration) {
    let mut lines = Vec::new();
    let mut worst = [0.0; 2];
    let mut p99 = [0.0; 2];
    for (m, fair) in [false, true].into_iter().enumerate() {
        let path = dir.join(format!("hot-{waiters}-{fair}.lock"));
        let options = if fair {
            LockOptions::new().fair()
        } else {
            LockOptions::new()
        };
        let mut waits = hot(&path, &options, waiters, run);
        let mut all: Vec<f64> = waits.iter().flatten().copied().collect();
        let each_worst = waits
            .iter()
            .map(|w| w.iter().copied().fold(0.0, f64::max))
            .fold(0.0, f64::max);
        let each_p99 = waits
            .iter_mut()
            .map(|w| percentile(w, 0.99))
            .fold(0.0, f64::max);
        worst[m] = each_worst;
        p99[m] = each_p99;
        lines.push(format!(
            "  {:<8} {:>6} takes  worst {:>9.2} ms  p99 (worst waiter's) {:>9.2} ms  median {:>7.3} ms",
            if fair { "fair" } else { "default" },
            all.len(),
            each_worst,
            each_p99,
            median(&mut all),
        ));
    }
    println!("hot re-locker + {waiters} waiters, {run:?}");
    for line in lines {
        println!("{line}");
    }
    println!(
        "  fair / default: worst {:.2}x, p99 {:.2}x",
        worst[1] / worst[0],
        p99[1] / p99[0]
    );
}

/// Runs the re-locker and `waiters` waiters for `run`; each waiter's waits, in ms.
fn hot(path: &Path, options: &LockOptions, waiters: usize, run: Duration) -> Vec<Vec<f64>> {
    let stop = Arc::new(AtomicBool::new(false));
    let relocker = {
        let (path, options, stop) = (path.to_owned(), options.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let lock = options.lock(&path).unwrap();
                std::thread::sleep(HOLD);
                drop(lock);
            }
        })
    };
    let threads: Vec<_> = (0..waiters)
        .map(|i| {
            let (path, options, stop) = (path.to_owned(), options.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seed = i as u64 * 7919 + 1;
                let mut waits = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    std::thread::sleep(Duration::from_micros(seed % 2000));
                    let asked = Instant::now();
                    let lock = options.lock(&path).unwrap();
                    waits.push(asked.elapsed().as_secs_f64() * 1000.0);
                    std::thread::sleep(HOLD);
                    drop(lock);
                }
                waits
            })
        })
        .collect();
    std::thread::sleep(run);
    stop.store(true, Ordering::Relaxed);
    relocker.join().unwrap();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// `target/`, from this binary's place in `target/release/deps/`.
fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn median(samples: &mut [f64]) -> f64 {
    percentile(samples, 0.5)
}

fn percentile(samples: &mut [f64], at: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let index = ((samples.len() - 1) as f64 * at).round() as usize;
    samples[index]
}
