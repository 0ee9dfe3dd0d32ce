//! The only calls that need `unsafe`: signal dispositions and masks (and
//! those we were started with), signalling one thread, borrowing a descriptor
//! by number, and what a child does between fork and exec.
//! Everything else in the platform module goes through rustix, signal-hook and
//! std, which are safe.

#![allow(unsafe_code)]

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, RawFd};
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use std::os::unix::process::CommandExt;

/// Signals 1 to 63 that were ignored (`SIG_IGN`) when the process started,
/// one bit each, and whether they were recorded.
static IGNORED_AT_START: AtomicU64 = AtomicU64::new(0);
static RECORDED: AtomicBool = AtomicBool::new(false);

/// Records which signals we were started with ignored, before Rust's runtime
/// starts: it sets SIGPIPE to ignored for itself, and a child it starts gets
/// SIGPIPE at its default, so what the caller wanted (`trap '' PIPE`) would
/// be lost. A constructor, run by the dynamic loader before `main`: an ELF
/// `.init_array` entry, or on Apple platforms a `__mod_init_func` one.
#[used]
#[cfg_attr(
    target_vendor = "apple",
    unsafe(link_section = "__DATA,__mod_init_func")
)]
#[cfg_attr(not(target_vendor = "apple"), unsafe(link_section = ".init_array"))]
static RECORD_AT_START: extern "C" fn() = record_at_start;

extern "C" fn record_at_start() {
    let mut ignored = 0_u64;
    for signal in 1..64 {
        if currently_ignored(signal) {
            ignored |= 1 << signal;
        }
    }
    IGNORED_AT_START.store(ignored, Ordering::SeqCst);
    RECORDED.store(true, Ordering::SeqCst);
}

/// Whether `signal`'s disposition is `SIG_IGN` right now.
fn currently_ignored(signal: i32) -> bool {
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only reads the current one into `old`.
    let read = unsafe { libc::sigaction(signal, ptr::null(), old.as_mut_ptr()) } == 0;
    // SAFETY: sigaction(2) succeeded, so it filled in `old`.
    read && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Whether `signal` was ignored when we started (where that was recorded;
/// elsewhere, whether it is now, which is the same for every signal but
/// SIGPIPE, the only one Rust's runtime changes).
pub(crate) fn ignored_at_start(signal: i32) -> bool {
    if RECORDED.load(Ordering::SeqCst) {
        (1..64).contains(&signal) && IGNORED_AT_START.load(Ordering::SeqCst) & (1 << signal) != 0
    } else {
        currently_ignored(signal)
    }
}

/// Ignores `signal` in this process.
pub(crate) fn ignore(signal: i32) {
    // The saved action is dropped: this is for good.
    let _ = set_action(signal, libc::SIG_IGN);
}

/// Gives `signal` its default action, for good (SIGCHLD ignored by the
/// process that started us would make our children's exit statuses vanish).
pub(crate) fn reset(signal: i32) {
    let _ = set_action(signal, libc::SIG_DFL);
}

/// Makes `command` start as util-linux flock(1)'s command starts, from
/// `execvp(3)`: SIGPIPE as it was when we started (std resets it to the
/// default in the child), and a script without `#!` run by `/bin/sh`
/// (execvp's fallback for `ENOEXEC`, which std's `posix_spawn` path lacks;
/// a `pre_exec` hook makes std fork and call execvp).
pub(crate) fn start_as_flock_would(command: &mut Command) {
    let pipe_ignored = ignored_at_start(libc::SIGPIPE);
    let restore = move || {
        if pipe_ignored {
            // SAFETY: signal(2) is async-signal-safe and touches no memory of
            // ours, as code between fork and exec must.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        }
        Ok(())
    };
    // SAFETY: the closure makes only the async-signal-safe call above.
    unsafe { command.pre_exec(restore) };
}

/// A descriptor number this process has open, e.g. `9` in `flock 9`, borrowed
/// for the rest of the process; `None` if no descriptor of that number is open.
pub(crate) fn open_descriptor(raw: RawFd) -> Option<BorrowedFd<'static>> {
    if raw < 0 {
        return None;
    }
    // SAFETY: F_GETFD reads the flags of descriptor `raw` if it is open; it
    // touches no memory of ours.
    let open = unsafe { libc::fcntl(raw, libc::F_GETFD) } != -1;
    // SAFETY: `raw` is open (just checked) and was opened by whoever started us,
    // not by this program, which never closes a descriptor it did not open
    // itself: it stays open until the process ends, so a 'static borrow cannot
    // outlive it.
    open.then(|| unsafe { BorrowedFd::borrow_raw(raw) })
}

/// A signal's disposition as it was before we changed it, to put back.
pub(crate) struct SavedAction {
    signal: i32,
    action: libc::sigaction,
}

impl SavedAction {
    /// Puts the disposition back as it was.
    pub(crate) fn restore(self) {
        // SAFETY: `action` is what sigaction(2) gave us for this signal, so it is
        // a valid disposition for it; the old action is not asked for.
        unsafe { libc::sigaction(self.signal, &raw const self.action, ptr::null_mut()) };
    }
}

extern "C" fn do_nothing(_: libc::c_int) {}

/// Catches `signal` with a handler that does nothing, without `SA_RESTART`: a
/// blocking call the signal lands in, such as flock(2), fails with `EINTR`
/// instead of carrying on. That is how a timed wait is interrupted.
pub(crate) fn interrupt_with(signal: i32) -> io::Result<SavedAction> {
    set_action(signal, do_nothing as *const () as libc::sighandler_t)
}

/// Gives `signal` its default action (ending, stopping or ignored), replacing
/// any handler, e.g. signal-hook's, until the saved action is restored.
pub(crate) fn default_action(signal: i32) -> io::Result<SavedAction> {
    set_action(signal, libc::SIG_DFL)
}

fn set_action(signal: i32, handler: libc::sighandler_t) -> io::Result<SavedAction> {
    // SAFETY: an all-zero sigaction is valid: no flags, an empty mask, and the
    // handler set just below, before use.
    let mut action: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    action.sa_sigaction = handler;
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: both pointers are valid for the call; the handler is SIG_DFL or
    // `do_nothing`, which is async-signal-safe (it does nothing).
    let failed = unsafe { libc::sigaction(signal, &raw const action, old.as_mut_ptr()) } != 0;
    if failed {
        return Err(io::Error::last_os_error());
    }
    Ok(SavedAction {
        signal,
        // SAFETY: sigaction(2) succeeded, so it filled in the old action.
        action: unsafe { old.assume_init() },
    })
}

/// Blocks (`true`) or unblocks `signal` for the calling thread only, and says
/// whether it was blocked before.
pub(crate) fn block_in_this_thread(signal: i32, block: bool) -> io::Result<bool> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    let how = if block {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: the sets are initialised by sigemptyset before being read, and
    // every pointer is valid for the calls.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), signal);
        let err = libc::pthread_sigmask(how, set.as_ptr(), old.as_mut_ptr());
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
        Ok(libc::sigismember(old.as_ptr(), signal) == 1)
    }
}

/// Lets other threads send a signal to one thread while it runs a closure
/// ([`ThreadSignaller::while_running`]): signalling a thread that has exited
/// would be undefined behaviour, so sending does nothing once the closure ends.
#[derive(Clone)]
pub(crate) struct ThreadSignaller {
    target: Arc<Mutex<Option<libc::pthread_t>>>,
}

impl ThreadSignaller {
    /// Runs `body` on this thread, handing it a signaller for this thread.
    pub(crate) fn while_running<R>(body: impl FnOnce(&Self) -> R) -> R {
        /// Clears the target however `body` ends, returning or unwinding.
        struct Clear(Arc<Mutex<Option<libc::pthread_t>>>);
        impl Drop for Clear {
            fn drop(&mut self) {
                *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let signaller = Self {
            target: Arc::new(Mutex::new(Some(me))),
        };
        let _clear = Clear(Arc::clone(&signaller.target));
        body(&signaller)
    }

    /// Sends `signal` to the thread, unless its closure has ended.
    pub(crate) fn send(&self, signal: i32) {
        let target = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(thread) = *target {
            // SAFETY: the thread is alive: `while_running` is still on its stack,
            // and clears `target` under this same lock before returning.
            unsafe { libc::pthread_kill(thread, signal) };
        }
    }
}

/// Makes the command started by `command` die (SIGKILL) when this process
/// does, however it dies: the kernel's parent-death signal, set in the child
/// between fork and exec. What a lock tied to `lockfile` (etcd's lease)
/// needs, since it does not outlive `lockfile` as an inherited descriptor would. Linux only; elsewhere
/// the command is not tied to us.
///
/// The signal fires when the *thread* that started the child ends: `supervise`
/// starts it from the main thread, which lasts as long as the process.
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent(command: &mut Command) {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let tie = move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid are async-signal-safe
        // system calls that touch no memory of ours, as code between fork and
        // exec must be; nothing here allocates or takes a lock.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // We died before the prctl: nothing will send the signal now.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the closure only makes the async-signal-safe calls above.
    unsafe { command.pre_exec(tie) };
}

/// Not Linux: no parent-death signal to set.
#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent(_command: &mut Command) {}
