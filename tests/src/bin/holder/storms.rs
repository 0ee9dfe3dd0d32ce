//! Forks while other threads of the process wait for and probe locks, as a
//! daemon or a test runner forking workers does (semantic 17). Each prints one
//! line of counts for the test to check.
//!
//! - `fork-waits DIR N`: two threads time out over and over on a lock this
//!   process holds (helpers, queues) and one awaits it with a timeout (the
//!   timer); meanwhile N children are forked, one at a time, and each does a
//!   timed and an async timed wait of its own. A child not done within
//!   `CHILD_DEADLINE` is hung, killed and counted: `hung H of N`.
//! - `fork-probes DIR N`: three threads probe a free lock file over and over;
//!   N children are forked and kept alive while the probes are paused and this
//!   process tries the lock: `held-by-child H of N`.
//! - `fork-waiters DIR THREADS`: THREADS threads wait forever for a lock this
//!   process holds; once all block, a child is forked and kept alive, the lock
//!   released, and each thread releases the lock as soon as it gets it:
//!   `served S of THREADS`.
//! - `fork-unpolled DIR`: an async wait is polled once; its helper takes the
//!   lock once it is released, but the task is never polled again. A child is
//!   forked and kept alive, the future dropped, and the lock tried: `free` or
//!   `held`.
//! - `fork-unpolled-reuse DIR`: the same unpolled future, but the child keeps
//!   its copy: it takes eight locks of its own (descriptor numbers are reused
//!   lowest first), drops the future, and checks that it still holds all
//!   eight: `kept` or `lost N`.
//! - `fork-pending-async DIR [--fair]`: an async wait is polled once on a
//!   lock this process holds, then a child is forked, which drops its copy of
//!   the guard and awaits its copy of the wait. Waiting forever, it gets the
//!   lock once this process lets go; with a 1 s timeout while this process
//!   keeps the lock, it times out: `forever: got; timed: timed out` (`hung`
//!   for a child past `CHILD_DEADLINE`).
//! - `fork-async-parent-exits DIR`: a fair async wait is polled once on a
//!   lock this process holds, then a child is forked and this process exits
//!   (a daemon's fork): the child drops its copy of the guard and awaits its
//!   copy of the wait, which must get the lock once this process is gone,
//!   not wait for its parent's place in the queue. Prints `child PID`; the
//!   child writes `got` (or the error) to DIR/result.
//! - `fork-fair-guard DIR`: a fair guard with a ticket (it had to wait);
//!   a child is forked and drops its copy of the guard; prints how many
//!   queue-slot locks the queue file has before and after: `1 1` (the
//!   child closed its copy of the parent's place, and left it to the parent).
//! - `fork-fair-takes DIR SECONDS`: three threads take, hold (20 ms) and
//!   release a contended fair lock over and over while children are forked
//!   every 2 ms; each child looks at its descriptors: a place in the queue
//!   (a slot lock on the queue file) without the lock file's flock is a
//!   place it would keep once the parent died holding the lock:
//!   `slot-without-lock K of N`.
//! - `fork-fair DIR N`: three threads take fair locks with a timeout over and
//!   over (the fair queue's per-process state); N children are forked, each
//!   taking a fair lock of a free file: `hung H of N`.
#![allow(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockFile, LockOptions, probe};

/// Generous: a child's waits take milliseconds; this bounds a hang.
const CHILD_DEADLINE: Duration = Duration::from_secs(5);

/// A forked child kept alive (blocked reading a pipe) until dropped.
struct Sleeper {
    pid: libc::pid_t,
    wake: libc::c_int,
}

impl Sleeper {
    /// Forks a child that only blocks in `read(2)` and then `_exit`s: both
    /// async-signal-safe, as a child of a multi-threaded process requires.
    fn fork() -> Self {
        let mut fds = [0; 2];
        // SAFETY: a valid array of two ints for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child calls only read(2) and _exit(2).
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => unsafe {
                // Without the write end, the read ends when the parent's closes.
                libc::close(fds[1]);
                let mut byte = 0u8;
                libc::read(fds[0], (&raw mut byte).cast(), 1);
                libc::_exit(0)
            },
            pid => {
                // SAFETY: our own read end, not used again here.
                unsafe { libc::close(fds[0]) };
                Self { pid, wake: fds[1] }
            }
        }
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        // SAFETY: our own pipe end and child.
        unsafe {
            libc::close(self.wake);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Forks a child that runs `work` and exits; waits for it up to the
/// deadline, killing it past that. Whether it hung.
fn fork_and_reap(work: impl FnOnce()) -> bool {
    // SAFETY: the child runs the library's waits, which is the point of the
    // test: they must not hang on state the parent's threads left locked.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            work();
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(0) }
        }
        pid => reap(pid).is_none(),
    }
}

/// Waits for child `pid` to exit, and returns its wait status; `None` if it
/// was still running after `CHILD_DEADLINE` (hung), when it is killed.
fn reap(pid: libc::pid_t) -> Option<libc::c_int> {
    let started = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: our own child, a valid pointer.
        let done = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
        if done == pid {
            return Some(status);
        }
        if started.elapsed() > CHILD_DEADLINE {
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &raw mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `future`, polled once, which must leave it waiting (for a lock held
/// elsewhere: its helper has started).
fn started<F: Future>(future: F) -> std::pin::Pin<Box<F>> {
    let mut future = Box::pin(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    future
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

pub(crate) fn fork_waits(dir: &Path, forks: usize) {
    let path = dir.join("held.lock");
    let _held = LockFile::new(&path).expect("lock");
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (stop, path) = (Arc::clone(&stop), path.clone());
        threads.push(std::thread::spawn(move || {
            let short = LockOptions::new().timeout(Duration::from_millis(1));
            while !stop.load(Ordering::Relaxed) {
                assert!(matches!(short.lock(&path), Err(LockError::Timeout { .. })));
            }
        }));
    }
    {
        let (stop, path) = (Arc::clone(&stop), path.clone());
        threads.push(std::thread::spawn(move || {
            let short = LockOptions::new().timeout(Duration::from_millis(1));
            block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    let waited = short.lock_async(&path).await;
                    assert!(matches!(waited, Err(LockError::Timeout { .. })));
                }
            });
        }));
    }
    let mut hung = 0;
    for _ in 0..forks {
        hung += usize::from(fork_and_reap(|| {
            let short = LockOptions::new().timeout(Duration::from_millis(5));
            let _ = short.lock(&path);
            let _ = block_on(short.lock_async(&path));
        }));
        if hung >= 3 {
            break; // enough to tell; each costs the whole deadline
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("waiter");
    }
    println!("hung {hung} of {forks}");
}

pub(crate) fn fork_probes(dir: &Path, forks: usize) {
    let path = dir.join("probed.lock");
    LockFile::new(&path)
        .expect("create")
        .close()
        .expect("close");
    let stop = Arc::new(AtomicBool::new(false));
    // Probes run under the read side; the write side pauses them all.
    let gate = Arc::new(RwLock::new(()));
    let probes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (stop, gate, probes, path) = (
                Arc::clone(&stop),
                Arc::clone(&gate),
                Arc::clone(&probes),
                path.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _running = gate.read().unwrap();
                    probe(&path).expect("probe");
                    probes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut held_by_child = 0;
    for _ in 0..forks {
        // Let probes run, then fork in the middle of them.
        let before = probes.load(Ordering::Relaxed);
        while probes.load(Ordering::Relaxed) < before + 2 {
            std::hint::spin_loop();
        }
        let child = Sleeper::fork();
        let paused = gate.write().unwrap();
        // Every probe has given its lock back; the child is still alive.
        match LockFile::new(&path) {
            Ok(lock) => lock.close().expect("close"),
            Err(LockError::Contended { .. }) => held_by_child += 1,
            Err(err) => panic!("{err}"),
        }
        drop(child);
        drop(paused);
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("prober");
    }
    println!("held-by-child {held_by_child} of {forks}");
}

pub(crate) fn fork_waiters(dir: &Path, count: usize) {
    let path = dir.join("waited.lock");
    // Held by hand, to be let go by an explicit unlock: a guard's copy in the
    // child would keep it held (as it should).
    let held = std::fs::File::create(&path).expect("create");
    held.lock().expect("lock");
    let served = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (served, path) = (Arc::clone(&served), path.clone());
            std::thread::spawn(move || {
                let lock = LockOptions::new().lock(&path).expect("wait forever");
                served.fetch_add(1, Ordering::SeqCst);
                drop(lock);
            })
        })
        .collect();
    // All blocked in the kernel, by /proc/locks: each blocked request is a line.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocked_on(ino) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let child = Sleeper::fork();
    held.unlock().expect("unlock");
    let deadline = Instant::now() + CHILD_DEADLINE;
    while served.load(Ordering::SeqCst) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("served {} of {count}", served.load(Ordering::SeqCst));
    drop(child);
    for thread in threads {
        thread.join().expect("waiter");
    }
}

/// Blocked flock requests on inode `ino`, by /proc/locks ("N: -> FLOCK ...").
pub(crate) fn blocked_on(ino: u64) -> usize {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let suffix = format!(":{ino}");
    locks
        .lines()
        .filter(|line| line.contains("->"))
        .filter(|line| line.split_whitespace().any(|word| word.ends_with(&suffix)))
        .count()
}

pub(crate) fn fork_unpolled(dir: &Path) {
    let path = dir.join("unpolled.lock");
    let held = LockFile::new(&path).expect("lock");
    let future = started(
        LockOptions::new()
            .timeout(Duration::from_secs(3600))
            .lock_async(&path),
    );
    drop(held);
    // The helper has it once a try of ours is refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    while LockFile::new(&path).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let child = Sleeper::fork();
    drop(future);
    match LockFile::new(&path) {
        Ok(_) => println!("free"),
        Err(LockError::Contended { .. }) => println!("held"),
        Err(err) => panic!("{err}"),
    }
    drop(child);
}

pub(crate) fn fork_unpolled_reuse(dir: &Path) {
    let path = dir.join("unpolled.lock");
    let held = LockFile::new(&path).expect("lock");
    let future = started(LockOptions::new().wait_forever().lock_async(&path));
    drop(held);
    // Time for the helper to take the lock and fill the slot (no try of ours
    // here: its descriptor would free a low number for the child to reuse).
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: the child runs the library, which must not trip over what the
    // fork copied: that is the point of the test.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            let own: Vec<_> = (0..8)
                .map(|i| LockFile::new(dir.join(format!("own-{i}.lock"))).expect("own lock"))
                .collect();
            drop(future);
            let lost = (0..8)
                .filter(|i| LockFile::new(dir.join(format!("own-{i}.lock"))).is_ok())
                .count();
            drop(own);
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(i32::try_from(lost).expect("at most 8")) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: our own child, a valid pointer.
            unsafe { libc::waitpid(pid, &raw mut status, 0) };
            if libc::WIFEXITED(status) {
                match libc::WEXITSTATUS(status) {
                    0 => println!("kept"),
                    lost => println!("lost {lost}"),
                }
            } else {
                // e.g. std's abort on closing a descriptor already closed.
                println!("child killed by signal {}", libc::WTERMSIG(status));
            }
        }
    }
    drop(future);
}

pub(crate) fn fork_fair(dir: &Path, forks: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (stop, path) = (Arc::clone(&stop), dir.join(format!("thread-{t}.lock")));
            std::thread::spawn(move || {
                // A child forked while this thread holds its lock keeps a
                // copy of the guard (semantic 17) until it exits, killed at
                // the latest after CHILD_DEADLINE: a timed wait, but one that
                // can only run out when a child outlived its deadline.
                let fair = LockOptions::new().fair().timeout(3 * CHILD_DEADLINE);
                while !stop.load(Ordering::Relaxed) {
                    drop(fair.lock(&path).expect("a free fair lock"));
                }
            })
        })
        .collect();
    let mut hung = 0;
    for n in 0..forks {
        let path = dir.join(format!("child-{n}.lock"));
        hung += usize::from(fork_and_reap(|| {
            let fair = LockOptions::new()
                .fair()
                .timeout(Duration::from_millis(500));
            let _ = fair.lock(&path);
        }));
        if hung >= 3 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("fair locker");
    }
    println!("hung {hung} of {forks}");
}

pub(crate) fn fork_pending_async(dir: &Path, fair: bool) {
    let options = |options: LockOptions| if fair { options.fair() } else { options };
    let forever = await_in_a_child(dir, &options(LockOptions::new().wait_forever()), true);
    let timed = await_in_a_child(
        dir,
        &options(LockOptions::new().timeout(Duration::from_secs(1))),
        false,
    );
    println!("forever: {forever}; timed: {timed}");
}

/// Starts an async wait for a lock this process holds, forks, and has the
/// child await it; lets go of the lock meanwhile if `release`.
fn await_in_a_child(dir: &Path, options: &LockOptions, release: bool) -> &'static str {
    let path = dir.join("pending.lock");
    let held = LockFile::new(&path).expect("lock");
    let future = started(options.lock_async(&path));
    // SAFETY: the child runs the library's async wait, which is the point.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            // Its copy of the guard: the lock stays ours through the parent's.
            drop(held);
            let code = match block_on(future) {
                Ok(_) => 0,
                Err(LockError::Timeout { .. }) => 2,
                Err(_) => 1,
            };
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(code) }
        }
        pid => {
            drop(future);
            if release {
                std::thread::sleep(Duration::from_millis(100));
                drop(held);
            }
            match reap(pid).map(|status| libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)))
            {
                None => "hung",
                Some(Some(0)) => "got",
                Some(Some(2)) => "timed out",
                Some(_) => "failed",
            }
        }
    }
}

pub(crate) fn fork_async_parent_exits(dir: &Path) {
    let path = dir.join("daemon.lock");
    let held = LockFile::new(&path).expect("lock");
    let future = started(LockOptions::new().fair().wait_forever().lock_async(&path));
    // SAFETY: the child runs the library's async wait, which is the point.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            // A daemon's: off the test's pipes, which it would keep open.
            let null = std::fs::File::options()
                .write(true)
                .open("/dev/null")
                .expect("/dev/null");
            // SAFETY: dup2(2) onto our own standard descriptors.
            unsafe {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2);
            }
            drop(held);
            let result = match block_on(future) {
                Ok(_) => "got".to_owned(),
                Err(err) => err.to_string(),
            };
            std::fs::write(dir.join("result"), result).expect("result");
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(0) }
        }
        pid => {
            println!("child {pid}");
            std::thread::sleep(Duration::from_millis(100));
            // Gone without dropping anything: its descriptors close with it.
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(0) }
        }
    }
}

pub(crate) fn fork_fair_guard(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join("guard.lock");
    let held = LockFile::new(&path).expect("lock");
    let waiter = {
        let path = path.clone();
        std::thread::spawn(move || {
            LockOptions::new()
                .fair()
                .timeout(Duration::from_secs(30))
                .lock(&path)
        })
    };
    // Queued once the ticket counter has moved.
    let queue = dir.join("guard.lock.queue");
    while std::fs::read(&queue).map_or(true, |bytes| bytes.iter().all(|b| *b == 0)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(held);
    let guard = waiter.join().expect("waiter").expect("a fair guard");
    let inode = std::fs::metadata(&queue).expect("queue").ino();
    let slots = || {
        std::fs::read_to_string("/proc/locks")
            .expect("/proc/locks")
            .lines()
            .filter(|line| line.contains("OFDLCK") && line.contains(&format!(":{inode} ")))
            .count()
    };
    let before = slots();
    // SAFETY: the child drops a guard and exits, which is the point.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            drop(guard);
            // SAFETY: _exit(2) has no preconditions.
            unsafe { libc::_exit(0) }
        }
        pid => {
            reap(pid).expect("a child that only drops a guard");
        }
    }
    println!("{before} {}", slots());
    drop(guard);
}

pub(crate) fn fork_fair_takes(dir: &Path, seconds: u64) {
    let path = dir.join("takes.lock");
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (stop, path) = (Arc::clone(&stop), path.clone());
            std::thread::spawn(move || {
                let fair = LockOptions::new().fair();
                let fair = if t == 0 {
                    fair.wait_forever()
                } else {
                    fair.timeout(3 * CHILD_DEADLINE)
                };
                while !stop.load(Ordering::Relaxed) {
                    let guard = fair.lock(&path).expect("a fair lock");
                    std::thread::sleep(Duration::from_millis(20));
                    drop(guard);
                }
            })
        })
        .collect();
    let (mut forks, mut stranded) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        // SAFETY: the child reads /proc and exits, nothing of the library's.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => {
                let (slots, flocks) = own_locks();
                let code = i32::from(slots > 0 && flocks == 0);
                // SAFETY: _exit(2) has no preconditions.
                unsafe { libc::_exit(code) }
            }
            pid => {
                forks += 1;
                let status = reap(pid).expect("a child that only reads /proc");
                stranded += usize::from(libc::WEXITSTATUS(status) == 1);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("fair locker");
    }
    println!("slot-without-lock {stranded} of {forks}");
}

/// This process's queue-slot locks (one-byte OFD locks on a `.queue` file)
/// and `flock` locks on other files, from its descriptors' fdinfo.
fn own_locks() -> (usize, usize) {
    let (mut slots, mut flocks) = (0, 0);
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        let info = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            entry.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let locks = info.lines().filter(|line| line.starts_with("lock:"));
        if target.to_string_lossy().ends_with(".queue") {
            // `lock: 1: OFDLCK ADVISORY WRITE -1 00:2a:123 9 9`: one byte.
            slots += locks
                .filter(|line| {
                    let words: Vec<_> = line.split_whitespace().collect();
                    words.len() >= 2 && words[words.len() - 1] == words[words.len() - 2]
                })
                .count();
        } else {
            flocks += locks.filter(|line| line.contains("FLOCK")).count();
        }
    }
    (slots, flocks)
}
