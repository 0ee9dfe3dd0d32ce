//! `probe()` with the kernel's view (Linux: `/proc/locks`, and every
//! process's descriptors when the lock is held) against a probe without it,
//! done by hand through std the way `probe` worked before the view: open
//! read-only, try the lock exclusive (and shared if that fails), read the
//! content, close. Also the failed `LockFile::new` on a held lock (its error
//! reads the view at the taker's depth) against the same failed try by hand.
//! On a machine with a few hundred processes: the benchmark starts idle
//! `sleep` processes until there are `PROCESSES` (default 300).
//!
//! ```text
//! cargo bench -p lockfile-benches --bench probe                # ~10 s
//! cargo bench -p lockfile-benches --bench probe -- --quick     # a smoke run
//! PROCESSES=600 cargo bench -p lockfile-benches --bench probe
//! ```
//!
//! Linux only: elsewhere there is no kernel view to measure.

#![cfg_attr(not(target_os = "linux"), allow(unused))]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lockfile_benches::Summary;
use scoped_lockfile::{LockFile, Probe, probe};

/// The old probe's syscalls, by hand: what a probe costs without the view.
fn probe_by_hand(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    let held = file.try_lock().is_err();
    // Readers or a writer: a shared try tells them apart.
    if held && file.try_lock_shared().is_ok() {
        let _ = file.unlock();
    }
    let mut buf = [0; 1024];
    black_box(file.read_at(&mut buf, 0).unwrap());
    held
}

/// A failed one-try take by hand: open read-write, try, read who holds it.
fn contended_by_hand(path: &Path) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    assert!(file.try_lock().is_err());
    let mut buf = [0; 1024];
    black_box(file.read_at(&mut buf, 0).unwrap());
}

/// Median nanoseconds per call of `f`, over `rounds` timed batches of
/// `batch` calls; the two sides of a row are measured in alternation.
fn pair(rounds: usize, batch: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> (u64, u64) {
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..batch {
            f();
        }
        u64::try_from(started.elapsed().as_nanos() / u128::from(batch)).unwrap_or(u64::MAX)
    };
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        sa.push(time(&mut a));
        sb.push(time(&mut b));
    }
    (Summary::of(&mut sa).p50, Summary::of(&mut sb).p50)
}

fn process_count() -> usize {
    std::fs::read_dir("/proc").map_or(0, |dir| {
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count()
    })
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("probe: the kernel's view is Linux's; nothing to measure here");
}

#[cfg(target_os = "linux")]
fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let wanted: usize = std::env::var("PROCESSES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut idle: Vec<Child> = Vec::new();
    while process_count() < wanted && idle.len() < wanted {
        idle.push(
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn sleep"),
        );
    }
    let (rounds, batch) = if quick { (5, 20) } else { (41, 100) };

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.lock");
    std::fs::write(&path, " 4242\n").unwrap();
    println!(
        "{} processes ({} idle ones started); median ns per call of {rounds} batches of {batch}",
        process_count(),
        idle.len()
    );
    println!(
        "{:<38} {:>12} {:>12} {:>7}",
        "", "by hand", "lockfile", "ratio"
    );
    let row = |name: &str, (base, ours): (u64, u64)| {
        #[allow(clippy::cast_precision_loss)] // nanoseconds far below 2^52
        let ratio = ours as f64 / base.max(1) as f64;
        println!("{name:<38} {base:>12} {ours:>12} {ratio:>7.2}");
    };

    row(
        "probe, free",
        pair(
            rounds,
            batch,
            || assert!(!probe_by_hand(&path)),
            || assert!(matches!(probe(&path).unwrap(), Probe::Free { .. })),
        ),
    );

    // Held by another process, so that the view must find it among all.
    let mut holder = Command::new("flock")
        .arg(&path)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("flock(1) from util-linux");
    while !probe_by_hand(&path) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let probe_rounds = if quick { 3 } else { 21 };
    let probe_batch = if quick { 3 } else { 10 };
    row(
        "probe, held (every holder listed)",
        pair(
            probe_rounds,
            probe_batch,
            || assert!(probe_by_hand(&path)),
            || assert!(matches!(probe(&path).unwrap(), Probe::Held { .. })),
        ),
    );
    row(
        "LockFile::new, held (error names taker)",
        pair(
            rounds,
            batch,
            || contended_by_hand(&path),
            || assert!(LockFile::new(&path).is_err()),
        ),
    );

    drop(holder.stdin.take());
    holder.wait().unwrap();
    for mut child in idle {
        let _ = child.kill();
        let _ = child.wait();
    }
}
