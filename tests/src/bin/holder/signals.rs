//! Signals that interrupt a wait: a handler installed without `SA_RESTART`, as
//! daemons install theirs, and a thread that keeps sending that signal with
//! `tgkill(2)` to the thread that waits and to the library's helper threads.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs a `SIGUSR1` handler without `SA_RESTART`: a blocking `flock(2)`
/// it interrupts fails with `EINTR` instead of going on.
pub(crate) fn install_interrupting_handler() {
    // SAFETY: a zeroed `sigaction` is a valid value to fill in; the handler
    // only increments an atomic, which is async-signal-safe; no flag is set,
    // so interrupted system calls are not restarted.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&raw mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &raw const action, std::ptr::null_mut()),
            0
        );
    }
}

/// The thread sending the signals, until stopped.
pub(crate) struct Storm {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

/// Starts sending `SIGUSR1` every millisecond to the calling thread and to
/// every thread named `lockfile-wait` (the library's helpers).
pub(crate) fn start_storm() -> Storm {
    // SAFETY: gettid(2) has no preconditions.
    let target = unsafe { libc::gettid() };
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let pid = std::process::id().cast_signed();
        let mut sent = 0;
        while !stopping.load(Ordering::Relaxed) {
            for tid in std::iter::once(target).chain(helper_threads()) {
                // SAFETY: tgkill(2) with this process's id and one of its
                // thread ids; at worst the thread has exited and it fails.
                if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) } == 0 {
                    sent += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    });
    Storm { stop, thread }
}

impl Storm {
    /// Stops the storm; says how many signals were sent and how many handled.
    pub(crate) fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.thread.join().unwrap();
        (sent, HANDLED.load(Ordering::Relaxed))
    }
}

fn helper_threads() -> Vec<libc::pid_t> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim() == "lockfile-wait")
        })
        .filter_map(|task| task.file_name().to_str()?.parse().ok())
        .collect()
}
