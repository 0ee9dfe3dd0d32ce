//! Passing on to the command the signals sent to `lockfile`, once each.
//!
//! A signal that was ignored when `lockfile` started (`nohup`, a script's
//! `trap '' INT` or background job) is left ignored, as flock(1) leaves it:
//! not caught, so not passed on, and the command inherits it ignored.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use signal_hook::consts::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2, SIGWINCH,
};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::{Cause, Origin};

use super::ffi;
use super::job::Job;

/// Signals that would end `lockfile`: passed on, so the command decides when
/// it ends, and the lock outlives it.
const ENDING: [i32; 7] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM];

/// Catches signals from the moment it starts, and passes them on to the
/// command once it runs.
pub(crate) struct Forwarder {
    state: Arc<Mutex<State>>,
    handle: Handle,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    job: Option<Arc<Job>>,
    /// The first ending signal that came before the command was known, with
    /// who sent it: the command itself may have, between its start and
    /// [`Forwarder::forward_to`], and must not get it back.
    early: Option<Origin>,
}

impl Forwarder {
    /// Starts catching. With `job_control` (the command has its own process
    /// group), also SIGTSTP, passed on so the command stops first, and
    /// SIGCONT, which continues it (unless its lock is lost by then).
    pub(crate) fn start(job_control: bool) -> io::Result<Self> {
        let mut caught = ENDING.to_vec();
        caught.push(SIGWINCH);
        if job_control {
            caught.extend([SIGTSTP, SIGCONT]);
        }
        caught.retain(|&signal| !ffi::ignored_at_start(signal));
        let mut signals = SignalsInfo::<WithOrigin>::new(caught)?;
        let handle = signals.handle();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("lockfile-signals".to_owned())
            .spawn(move || {
                for origin in signals.forever() {
                    let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    match &state.job {
                        Some(job) => pass_on(job, &origin),
                        None if ENDING.contains(&origin.signal) => {
                            state.early.get_or_insert(origin);
                        }
                        None => {}
                    }
                }
            })?;
        Ok(Self {
            state,
            handle,
            thread,
        })
    }

    /// The first ending signal that came so far, while there is no command.
    pub(crate) fn early(&self) -> Option<i32> {
        self.lock().early.as_ref().map(|origin| origin.signal)
    }

    /// From now on signals go to `job`, starting with one that came before.
    pub(crate) fn forward_to(&self, job: &Arc<Job>) {
        let mut state = self.lock();
        if let Some(origin) = state.early.take() {
            pass_on(job, &origin);
        }
        state.job = Some(Arc::clone(job));
    }

    /// Stops catching; called while the exited command is still unreaped, so
    /// its pid cannot have been reused by another process meanwhile.
    pub(crate) fn stop(self) {
        self.lock().job = None;
        self.handle.close();
        let _ = self.thread.join();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Passes a signal on, unless the command already has it: when the command
/// shares our process group, what the kernel sent us (the terminal's Ctrl-C)
/// went to the whole group, the command included; and what the command sent
/// us is not sent back to it.
fn pass_on(job: &Job, origin: &Origin) {
    if let Some(sender) = &origin.process
        && job.sent_by_command(sender.pid)
    {
        return;
    }
    if job.group.is_none() && origin.cause == Cause::Kernel {
        return;
    }
    if origin.signal == SIGCONT {
        job.resume();
    } else {
        job.signal(origin.signal);
    }
}
