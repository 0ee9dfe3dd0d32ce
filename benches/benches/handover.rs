//! Cross-process figures criterion cannot take: how fast the lock changes hands,
//! what a blocked waiter costs, and how the lock scales with contention.
//!
//! ```text
//! cargo bench -p lockfile-benches --bench handover
//! cargo bench -p lockfile-benches --bench handover -- --interleaved
//! cargo bench -p lockfile-benches --bench handover -- --interleaved --rounds 100 --handover-only  # a smoke run
//! ```
//!
//! Besides the plain `flock` waiter (the kernel's limit, with no content
//! written), two baselines do by hand the same work as our waiters, the limit
//! for a library that may not take a signal: `by-hand-forever` opens the
//! lock file, blocks in `flock`, `fstat`s it and writes the content;
//! `by-hand-helper` spawns a thread that opens the file and blocks in
//! `flock`, sends the `File` over a channel, and the caller waits with
//! `recv_timeout`, then `fstat`s and writes the content. Wait-forever is
//! compared with the first, timed and async waits with the second.
//!
//! The coordinator runs the scenarios; it starts copies of this program as
//! waiters and workers (`--waiter MODE NAME`, `--cpu MODE NAME`, `--worker ...`).
//! Every figure is printed beside its baseline from the same run.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use lockfile_benches::{Summary, XorShift, micros, monotonic_ns, open_rw, process_cpu_ns};
use scoped_lockfile::{LockError, LockOptions, LockedContext, LockedFile};

/// Hand-over rounds; hold times are random in 1..=4 ms. Tails need many: a
/// p99 of 1000 is its 10th worst sample, noise on a small VM. `--rounds N`
/// sets another number (a smoke run).
const HANDOVERS: usize = 3000;

/// How a waiter waits: the limit, the same work by hand, ours, and
/// fixed-interval polling for contrast.
const MODES: [&str; 8] = [
    "flock",
    "by-hand-forever",
    "by-hand-helper",
    "context",
    "context-timeout",
    "context-async",
    "poll-1ms",
    "poll-50ms",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--waiter", mode, name] => waiter(mode, Path::new(name)),
        ["--cpu", mode, name] => cpu_waiter(mode, Path::new(name)),
        ["--worker", kind, dir, count] => worker(kind, Path::new(dir), count.parse().unwrap()),
        // `cargo bench` passes `--bench`; `-- --interleaved` changes the order.
        rest => {
            let rounds = rest
                .iter()
                .position(|arg| *arg == "--rounds")
                .map_or(HANDOVERS, |at| rest[at + 1].parse().expect("--rounds N"));
            coordinate(
                rest.contains(&"--interleaved"),
                rounds,
                rest.contains(&"--handover-only"),
            );
        }
    }
}

fn coordinate(interleaved: bool, rounds: usize, handover_only: bool) {
    let dir = tempfile::tempdir_in("/dev/shm").expect("tmpfs at /dev/shm");
    handover_latency(dir.path(), interleaved, rounds);
    if handover_only {
        return;
    }
    blocked_waiter_cpu(dir.path());
    helper_threads_after_timeouts(dir.path());
    contention_scaling(dir.path());
}

// ---------------------------------------------------------------- hand-over

/// A waiter process: on each `go` line it acquires (blocking as `mode` says),
/// prints the monotonic time it owned the lock, and releases it.
fn waiter(mode: &str, name: &Path) {
    let lock_path = with_lock_suffix(name);
    let raw = open_rw(&lock_path);
    let content = format!(" {}\n", std::process::id());
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for _ in stdin.lock().lines() {
        let owned_at = match mode {
            "flock" => {
                raw.lock().unwrap();
                let now = monotonic_ns();
                raw.unlock().unwrap();
                now
            }
            "by-hand-forever" => {
                let file = open_rw(&lock_path);
                file.lock().unwrap();
                by_hand_content(&file, &content);
                let now = monotonic_ns();
                drop(file);
                now
            }
            "by-hand-helper" => {
                let (send, receive) = std::sync::mpsc::channel();
                let path = lock_path.clone();
                std::thread::spawn(move || {
                    let file = open_rw(&path);
                    file.lock().unwrap();
                    let _ = send.send(file);
                });
                let file = receive.recv_timeout(Duration::from_secs(60)).unwrap();
                by_hand_content(&file, &content);
                let now = monotonic_ns();
                drop(file);
                now
            }
            "context" => {
                let guard = LockedContext::new(name).unwrap();
                let now = monotonic_ns();
                guard.close().unwrap();
                now
            }
            "context-timeout" => {
                let guard = LockedContext::with_timeout(name, Duration::from_secs(60)).unwrap();
                let now = monotonic_ns();
                guard.close().unwrap();
                now
            }
            "context-async" => {
                let guard = block_on(LockOptions::new().locked_context_async(name)).unwrap();
                let now = monotonic_ns();
                guard.close().unwrap();
                now
            }
            poll => {
                let interval = Duration::from_millis(if poll == "poll-1ms" { 1 } else { 50 });
                while raw.try_lock().is_err() {
                    std::thread::sleep(interval);
                }
                let now = monotonic_ns();
                raw.unlock().unwrap();
                now
            }
        };
        writeln!(out, "{owned_at}").unwrap();
        out.flush().unwrap();
    }
}

/// What our waiters do once they hold the lock: `fstat` (the length, the
/// name still there) and the content written at offset 0.
fn by_hand_content(file: &File, content: &str) {
    let meta = file.metadata().unwrap();
    std::hint::black_box(meta.len());
    file.write_all_at(content.as_bytes(), 0).unwrap();
}

/// One waiter process and the holder's descriptor on the same lock file.
struct Pair {
    mode: &'static str,
    holder: File,
    waiter: Helper,
    samples: Vec<u64>,
}

impl Pair {
    fn start(dir: &Path, mode: &'static str) -> Self {
        let name = dir.join(format!("handover-{mode}"));
        Self {
            mode,
            holder: open_rw(&with_lock_suffix(&name)),
            waiter: Helper::start(&["--waiter", mode, name.to_str().unwrap()]),
            samples: Vec::new(),
        }
    }

    /// Holds the lock while the waiter starts waiting, releases it, and records
    /// how long after the release the waiter's acquire returned.
    fn hand_over(&mut self, hold: Duration) {
        self.holder.lock().unwrap(); // free: the waiter released before reporting
        self.waiter.send("go");
        std::thread::sleep(hold);
        let released_at = monotonic_ns();
        self.holder.unlock().unwrap();
        let owned_at: u64 = self.waiter.line().parse().unwrap();
        self.samples.push(owned_at.saturating_sub(released_at));
    }
}

/// Sequential by default: each waiter does all its hand-overs in a row, warm.
/// Interleaved: the waiters take turns round by round, so each sees the same
/// machine, but each wakes with caches the others have just used.
fn handover_latency(dir: &Path, interleaved: bool, handovers: usize) {
    println!("\nhand-over latency: holder releases -> waiter's acquire has returned");
    let order = if interleaved {
        "interleaved: waiters take turns"
    } else {
        "sequential: one waiter after another"
    };
    println!("(hold times random in 1..=4 ms; {order}; ratios to the plain flock waiter)");
    println!(
        "{:<18} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "waiter", "n", "p50", "p90", "p99", "max", "p50 x", "p99 x"
    );
    let mut rng = XorShift::new(0x5eed);
    let mut hold = || Duration::from_micros(rng.between(1000, 4000));
    // 50 ms polling makes each of its rounds ~25 ms: it does 200 of them.
    let rounds = |pair: &Pair| {
        if pair.mode == "poll-50ms" {
            handovers.min(200)
        } else {
            handovers
        }
    };
    let mut pairs: Vec<Pair> = MODES.iter().map(|mode| Pair::start(dir, mode)).collect();
    if interleaved {
        for round in 0..handovers {
            for pair in &mut pairs {
                if round < rounds(pair) {
                    pair.hand_over(hold());
                }
            }
        }
    } else {
        for pair in &mut pairs {
            for _ in 0..rounds(pair) {
                pair.hand_over(hold());
            }
        }
    }
    let mut baseline: Option<Summary> = None;
    let mut summaries = Vec::new();
    for mut pair in pairs {
        let summary = Summary::of(&mut pair.samples);
        let base = *baseline.get_or_insert(summary);
        println!(
            "{:<18} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8.2} {:>8.2}",
            pair.mode,
            pair.samples.len(),
            micros(summary.p50),
            micros(summary.p90),
            micros(summary.p99),
            micros(summary.max),
            ratio(summary.p50, base.p50),
            ratio(summary.p99, base.p99),
        );
        summaries.push((pair.mode, summary));
        pair.waiter.finish();
    }
    let of = |mode: &str| summaries.iter().find(|(m, _)| *m == mode).map(|(_, s)| *s);
    println!(
        "
against the same work by hand (target: p50 and p90 <= 1.2x)"
    );
    println!(
        "{:<18} {:<16} {:>8} {:>8} {:>8}",
        "waiter", "by hand", "p50 x", "p90 x", "p99 x"
    );
    for (ours, by_hand) in [
        ("context", "by-hand-forever"),
        ("context-timeout", "by-hand-helper"),
        ("context-async", "by-hand-helper"),
    ] {
        let (Some(ours_summary), Some(base)) = (of(ours), of(by_hand)) else {
            continue;
        };
        println!(
            "{ours:<18} {by_hand:<16} {:>8.2} {:>8.2} {:>8.2}",
            ratio(ours_summary.p50, base.p50),
            ratio(ours_summary.p90, base.p90),
            ratio(ours_summary.p99, base.p99),
        );
    }
}

// ---------------------------------------------------------------- blocked CPU

/// A waiter that reports the CPU time and wall time its blocked acquire took.
fn cpu_waiter(mode: &str, name: &Path) {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let (cpu, wall) = (process_cpu_ns(), monotonic_ns());
    let guard = match mode {
        "context" => LockedContext::new(name),
        _ => LockedContext::with_timeout(name, Duration::from_secs(60)),
    }
    .unwrap();
    let (cpu, wall) = (process_cpu_ns() - cpu, monotonic_ns() - wall);
    guard.close().unwrap();
    println!("{cpu} {wall}");
}

fn blocked_waiter_cpu(dir: &Path) {
    println!("\nCPU used by a waiter blocked for 2 s (target: under 1% of the wait)");
    for mode in ["context", "context-timeout"] {
        let name = dir.join(format!("cpu-{mode}"));
        let holder = open_rw(&with_lock_suffix(&name));
        holder.lock().unwrap();
        let mut waiter = Helper::start(&["--cpu", mode, name.to_str().unwrap()]);
        waiter.send("go");
        std::thread::sleep(Duration::from_secs(2));
        holder.unlock().unwrap();
        let report = waiter.line();
        waiter.finish();
        let (cpu, wall) = report.split_once(' ').unwrap();
        let (cpu, wall): (u64, u64) = (cpu.parse().unwrap(), wall.parse().unwrap());
        println!(
            "{mode:<18} cpu {} over a wait of {} ms = {:.4}% of the wait",
            micros(cpu),
            wall / 1_000_000,
            100.0 * ratio(cpu, wall)
        );
    }
}

// ---------------------------------------------------------------- helper threads

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn helper_threads_after_timeouts(dir: &Path) {
    println!("\nthreads after 100 timed-out attempts on a held lock (target: bounded, not 100)");
    let name = dir.join("threads");
    let holder = open_rw(&with_lock_suffix(&name));
    holder.lock().unwrap();
    let before = thread_count();
    for _ in 0..100 {
        let err = LockedContext::with_timeout(&name, Duration::from_millis(1)).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
    }
    let after = thread_count();
    holder.unlock().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_count() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "threads: {before} before, {after} after 100 timeouts, {} once the lock was released",
        thread_count()
    );
}

// ---------------------------------------------------------------- contention

/// Increments the counter in `dir/counter` `count` times, each under the lock,
/// and prints the longest single wait for it.
fn worker(kind: &str, dir: &Path, count: u32) {
    let counter = dir.join("counter");
    let raw = open_rw(&with_lock_suffix(&counter));
    let mut longest = 0;
    // Ready, then wait for the start signal: process start-up is not timed.
    println!("ready");
    std::io::stdin().read_line(&mut String::new()).unwrap();
    for _ in 0..count {
        let asked = monotonic_ns();
        if kind == "lockedfile" {
            let mut file = LockedFile::open(&counter, "r+").unwrap();
            longest = longest.max(monotonic_ns() - asked);
            let next = read_counter(&mut file) + 1;
            file.rewind().unwrap();
            file.write_all(next.to_string().as_bytes()).unwrap();
            file.close().unwrap();
        } else {
            raw.lock().unwrap();
            longest = longest.max(monotonic_ns() - asked);
            let data = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&counter)
                .unwrap();
            let mut text = String::new();
            (&data).read_to_string(&mut text).unwrap();
            let next: u64 = text.trim().parse::<u64>().unwrap() + 1;
            data.write_all_at(next.to_string().as_bytes(), 0).unwrap();
            data.sync_data().unwrap();
            drop(data);
            raw.unlock().unwrap();
        }
    }
    println!("{longest}");
}

fn read_counter(file: &mut LockedFile) -> u64 {
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text.trim().parse().unwrap()
}

fn contention_scaling(dir: &Path) {
    const TOTAL: u32 = 4000;
    println!(
        "\ncontention: N processes increment one counter {TOTAL} times in all, each under the lock"
    );
    println!(
        "(raw = blocking flock on a kept descriptor + open/read/write/fsync of the data file;"
    );
    println!(" LockedFile = open(\"r+\") + read + write + close, which syncs, per increment)");
    println!(
        "{:>3} {:<11} {:>12} {:>8} {:>14} {:>8}",
        "N", "kind", "per second", "x raw", "longest wait", "counter"
    );
    for processes in [2_u32, 4, 8, 16] {
        let mut raw_rate = 0.0;
        for kind in ["raw", "lockedfile"] {
            let run_dir = dir.join(format!("contention-{kind}-{processes}"));
            std::fs::create_dir(&run_dir).unwrap();
            std::fs::write(run_dir.join("counter"), "0").unwrap();
            let mut workers: Vec<Helper> = (0..processes)
                .map(|_| {
                    let count = (TOTAL / processes).to_string();
                    Helper::start(&["--worker", kind, run_dir.to_str().unwrap(), &count])
                })
                .collect();
            for worker in &mut workers {
                assert_eq!(worker.line(), "ready");
            }
            let started = Instant::now();
            for worker in &mut workers {
                worker.send("go");
            }
            let longest = workers
                .into_iter()
                .map(|mut worker| {
                    let longest: u64 = worker.line().parse().unwrap();
                    worker.finish();
                    longest
                })
                .max()
                .unwrap();
            let elapsed = started.elapsed().as_secs_f64();
            let counter = std::fs::read_to_string(run_dir.join("counter")).unwrap();
            assert_eq!(
                counter,
                TOTAL.to_string(),
                "lost updates with {kind} x {processes}"
            );
            let rate = f64::from(TOTAL) / elapsed;
            if kind == "raw" {
                raw_rate = rate;
            }
            println!(
                "{processes:>3} {kind:<11} {rate:>12.0} {:>8.2} {:>14} {counter:>8}",
                rate / raw_rate,
                micros(longest)
            );
        }
    }
}

// ---------------------------------------------------------------- plumbing

/// The smallest executor: poll, park until woken. The async waiter's figure is
/// then the crate's own machinery (helper thread, `Waker`), not a runtime's.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

fn with_lock_suffix(name: &Path) -> PathBuf {
    let mut path = name.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

#[allow(clippy::cast_precision_loss)] // ratios of nanosecond counts well under 2^52
fn ratio(ours: u64, base: u64) -> f64 {
    ours as f64 / base.max(1) as f64
}

/// A copy of this program, driven line by line over its stdin and stdout.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}
