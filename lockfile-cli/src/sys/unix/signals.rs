//! Ending or stopping `lockfile` itself the way its command ended or stopped,
//! so the shell (or whoever waits for us) sees what happened to the command.

use rustix::process::{Resource, Rlimit, getpid, getrlimit, setrlimit};
use signal_hook::low_level::raise;

use super::ffi;

/// Dies by `signal`, as the command did. Called after the lock is released.
///
/// Our own core file is suppressed: the command's tells what went wrong, and
/// ours, named `core` in the same directory, could overwrite it. If we are
/// still alive afterwards (pid 1 in a container ignores signals it has no
/// handler for), exits with 128 + `signal`, as a shell would report it.
pub(crate) fn die_by(signal: i32) -> ! {
    let limit = getrlimit(Resource::Core);
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    );
    // The saved action is never restored: we are on the way out.
    let _ = ffi::default_action(signal);
    let _ = ffi::block_in_this_thread(signal, false);
    if getpid().is_init() {
        std::process::exit(128 + signal);
    }
    let _ = raise(signal);
    std::process::exit(128 + signal)
}

/// Stops `lockfile` as the command was stopped: by the same job-control
/// signal, so a shell says "Stopped" or "Stopped (tty input)" as it would for
/// the command, or by SIGSTOP. Returns once continued.
pub(crate) fn stop_like(signal: i32) {
    let signal = match signal {
        libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => signal,
        _ => libc::SIGSTOP,
    };
    // SIGTSTP has signal-hook's handler (to pass it on): the default action,
    // stopping, is put in place for the moment it is raised.
    let saved = (signal != libc::SIGSTOP)
        .then(|| ffi::default_action(signal).ok())
        .flatten();
    let was_blocked = ffi::block_in_this_thread(signal, false);
    let _ = raise(signal);
    if was_blocked.is_ok_and(|was| was) {
        let _ = ffi::block_in_this_thread(signal, true);
    }
    if let Some(saved) = saved {
        saved.restore();
    }
}
