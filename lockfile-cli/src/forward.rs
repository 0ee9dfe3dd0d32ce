//! Passing the signals that ask `lockfile` to stop on to the command, so that
//! the command decides when it ends and the lock outlives it.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Handle;
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Where signals go: nowhere yet, the command, or nowhere any more.
#[derive(Debug, Default)]
struct Target {
    pid: Option<Pid>,
    /// Signals that came before the command was started.
    pending: Vec<i32>,
}

/// Catches the stop signals from the moment it is started; they no longer end
/// `lockfile`, they are sent on to the command.
pub(crate) struct Forwarder {
    target: Arc<Mutex<Target>>,
    handle: Handle,
    thread: JoinHandle<()>,
}

impl Forwarder {
    pub(crate) fn start() -> std::io::Result<Self> {
        let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED)?;
        let handle = signals.handle();
        let target = Arc::new(Mutex::new(Target::default()));
        let shared = Arc::clone(&target);
        let thread = std::thread::Builder::new()
            .name("lockfile-signals".to_owned())
            .spawn(move || {
                for origin in signals.forever() {
                    // Ctrl-C and the like come from the kernel to the whole
                    // foreground process group: the command has its own copy.
                    if matches!(origin.cause, Cause::Kernel) {
                        continue;
                    }
                    let mut target = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    match target.pid {
                        Some(pid) => send(pid, origin.signal),
                        None => target.pending.push(origin.signal),
                    }
                }
            })?;
        Ok(Self {
            target,
            handle,
            thread,
        })
    }

    /// From now on signals go to `pid`, starting with those that came before.
    pub(crate) fn forward_to(&self, pid: u32) {
        let mut target = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = i32::try_from(pid).ok().and_then(Pid::from_raw);
        target.pid = pid;
        if let Some(pid) = pid {
            for signal in target.pending.drain(..) {
                send(pid, signal);
            }
        }
    }

    /// Stops forwarding; called while the exited command is still unreaped, so
    /// its pid cannot have been reused by another process.
    pub(crate) fn stop(self) {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pid = None;
        self.handle.close();
        let _ = self.thread.join();
    }
}

fn send(pid: Pid, signal: i32) {
    if let Some(signal) = Signal::from_named_raw(signal) {
        // The command may have just exited; there is nothing to do then.
        let _ = kill_process(pid, signal);
    }
}
