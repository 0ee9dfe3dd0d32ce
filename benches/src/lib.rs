//! What the benchmarks share: clocks that mean the same in every process, and
//! the summary statistics they print.

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::time::{ClockId, clock_gettime};

/// `CLOCK_MONOTONIC` in nanoseconds: comparable between processes on one
/// machine, unlike `Instant`, which cannot be sent to another process.
pub fn monotonic_ns() -> u64 {
    nanos(ClockId::Monotonic)
}

/// CPU time used so far by this whole process (all threads), in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    nanos(ClockId::ProcessCPUTime)
}

fn nanos(clock: ClockId) -> u64 {
    let now = clock_gettime(clock);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

/// p50, p90, p99 and max of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The median.
    pub p50: u64,
    /// The 90th percentile (nearest rank).
    pub p90: u64,
    /// The 99th percentile (nearest rank).
    pub p99: u64,
    /// The largest sample.
    pub max: u64,
}

impl Summary {
    /// Summarises `samples`.
    ///
    /// # Panics
    ///
    /// If `samples` is empty.
    pub fn of(samples: &mut [u64]) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        let rank = |p: usize| samples[(samples.len() * p).div_ceil(100).max(1) - 1];
        Self {
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: samples[samples.len() - 1],
        }
    }
}

/// A small xorshift generator: reproducible hold times without a dependency.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low + 1)
    }
}

/// Nanoseconds as microseconds with one decimal, for tables.
pub fn micros(ns: u64) -> String {
    format!("{}.{} µs", ns / 1000, ns % 1000 / 100)
}

/// Opens `path` read-write, creating it if missing and keeping its content.
///
/// # Panics
///
/// If it cannot: a benchmark has no use for a half-set-up run.
pub fn open_rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}
