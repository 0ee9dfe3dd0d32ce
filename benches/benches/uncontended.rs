//! Uncontended take-and-release, in process, with criterion:
//!
//! - `LockFile::new` + `close` against the same syscalls issued by hand through
//!   std (open read-write-create, `try_lock`, write at 0, `set_len`, unlock, close),
//!   and against the peer crates doing the same job, on tmpfs and on disk;
//! - a reader's `LockOptions::shared()` take and release against std's
//!   `try_lock_shared` by hand;
//! - a `#[locked]` function against the same guard written by hand.
//!
//! After criterion's own report it prints each median as a ratio to the
//! baseline measured in the same run (read from criterion's estimates).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use std::hint::black_box;

use criterion::Criterion;
use lockfile_benches::open_rw;
use scoped_lockfile::{LockFile, LockOptions, LockedContext, locked};

const BASELINE: &str = "std-by-hand";

fn content() -> Vec<u8> {
    format!(" {}\n", std::process::id()).into_bytes()
}

/// The syscalls `LockFile::new` + `close` must cost, issued by hand.
fn std_by_hand(path: &Path, content: &[u8]) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .unwrap();
    file.try_lock().unwrap();
    file.write_all_at(content, 0).unwrap();
    file.set_len(content.len() as u64).unwrap();
    file.unlock().unwrap();
}

/// The same, plus rendering the content with the current pid, which the job
/// needs and the baseline above leaves out: `getpid` is a real syscall (no libc
/// caches it any more), and caching it would write the parent's pid after a
/// `fork` without `exec`, as daemonizing does.
fn std_by_hand_with_pid(path: &Path) {
    let content = format!(" {}\n", std::process::id());
    std_by_hand(path, content.as_bytes());
}

fn ours(path: &Path) {
    LockFile::new(path).unwrap().close().unwrap();
}

fn fs4_cycle(path: &Path, content: &[u8]) {
    let file = open_rw(path);
    fs4::FileExt::try_lock(&file).unwrap();
    file.write_all_at(content, 0).unwrap();
    file.set_len(content.len() as u64).unwrap();
    fs4::FileExt::unlock(&file).unwrap();
}

fn fd_lock_cycle(path: &Path, content: &[u8]) {
    let mut lock = fd_lock::RwLock::new(open_rw(path));
    let guard = lock.try_write().unwrap();
    guard.write_all_at(content, 0).unwrap();
    guard.set_len(content.len() as u64).unwrap();
}

/// fslock writes the pid itself (and truncates) in `try_lock_with_pid`.
fn fslock_cycle(path: &Path) {
    let mut lock = fslock::LockFile::open(path).unwrap();
    assert!(lock.try_lock_with_pid().unwrap());
    lock.unlock().unwrap();
}

fn uncontended(c: &mut Criterion, fs: &str, dir: &Path) {
    let path = dir.join(format!("bench-{fs}.lock"));
    let content = content();
    let mut group = c.benchmark_group(format!("uncontended-{fs}"));
    group.bench_function(BASELINE, |b| {
        b.iter(|| std_by_hand(black_box(&path), &content));
    });
    group.bench_function("std-by-hand-with-pid", |b| {
        b.iter(|| std_by_hand_with_pid(black_box(&path)));
    });
    group.bench_function("lockfile", |b| b.iter(|| ours(black_box(&path))));
    group.bench_function("fs4", |b| b.iter(|| fs4_cycle(black_box(&path), &content)));
    group.bench_function("fd-lock", |b| {
        b.iter(|| fd_lock_cycle(black_box(&path), &content));
    });
    group.bench_function("fslock", |b| b.iter(|| fslock_cycle(black_box(&path))));
    group.finish();
}

/// A reader's take and release by hand: the same open, `try_lock_shared`,
/// unlock, close; nothing is written.
fn std_shared_by_hand(path: &Path) {
    let file = open_rw(path);
    file.try_lock_shared().unwrap();
    file.unlock().unwrap();
}

fn ours_shared(path: &Path) {
    READERS.with(|readers| readers.lock(path).unwrap().close().unwrap());
}

thread_local! {
    static READERS: LockOptions = LockOptions::new().shared().timeout(Duration::ZERO);
}

fn uncontended_shared(c: &mut Criterion, dir: &Path) {
    let path = dir.join("bench-shared.lock");
    let mut group = c.benchmark_group("uncontended-shared");
    group.bench_function("std-shared-by-hand", |b| {
        b.iter(|| std_shared_by_hand(black_box(&path)));
    });
    group.bench_function("lockfile-shared", |b| {
        b.iter(|| ours_shared(black_box(&path)));
    });
    group.finish();
}

#[locked(name)]
fn with_attribute(name: &Path) -> u32 {
    black_box(1)
}

fn by_hand_guard(name: &Path) -> u32 {
    let _guard = LockedContext::new(name).unwrap_or_else(|err| panic!("{err}"));
    black_box(1)
}

fn attribute_cost(c: &mut Criterion, dir: &Path) {
    let name = dir.join("attribute");
    let mut group = c.benchmark_group("locked-attribute");
    group.bench_function("guard-by-hand", |b| {
        b.iter(|| by_hand_guard(black_box(&name)));
    });
    group.bench_function("locked-attribute", |b| {
        b.iter(|| with_attribute(black_box(&name)));
    });
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let tmpfs = tempfile::tempdir_in("/dev/shm").expect("tmpfs at /dev/shm");
    // The target directory is on the machine's disk; /tmp may be tmpfs.
    let disk = tempfile::tempdir_in(target_dir()).expect("a directory on disk");
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    uncontended(&mut c, "tmpfs", tmpfs.path());
    uncontended(&mut c, "disk", disk.path());
    uncontended_shared(&mut c, tmpfs.path());
    attribute_cost(&mut c, tmpfs.path());
    c.final_summary();
    print_ratios(started);
}

/// `target/`, from this binary's place in `target/release/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// Criterion's output directory, found the way criterion finds it.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME").map_or_else(|| target_dir().join("criterion"), PathBuf::from)
}

/// The median criterion estimated for `group/function` in this run, in ns.
/// Estimates older than `started` are from an earlier run (this one filtered
/// them out) and are skipped.
fn median_ns(group: &str, function: &str, started: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < started {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

const PEERS: &[&str] = &[
    "std-by-hand-with-pid",
    "lockfile",
    "fs4",
    "fd-lock",
    "fslock",
];

fn print_ratios(started: SystemTime) {
    let mut out = std::io::stdout().lock();
    let tables = [
        ("uncontended-tmpfs", BASELINE, PEERS),
        ("uncontended-disk", BASELINE, PEERS),
        (
            "uncontended-shared",
            "std-shared-by-hand",
            &["lockfile-shared"][..],
        ),
        (
            "locked-attribute",
            "guard-by-hand",
            &["locked-attribute"][..],
        ),
    ];
    writeln!(
        out,
        "\nmedians, as ratios to the baseline measured in this run"
    )
    .unwrap();
    for (group, baseline, others) in tables {
        let Some(base) = median_ns(group, baseline, started) else {
            continue; // filtered out on the command line
        };
        writeln!(out, "{group}: {baseline} {base:.0} ns = 1.00").unwrap();
        for other in others {
            if let Some(ns) = median_ns(group, other, started) {
                writeln!(out, "{group}: {other} {ns:.0} ns = {:.2}", ns / base).unwrap();
            }
        }
    }
}
