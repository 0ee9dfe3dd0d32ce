//! Running the command under the lock: its process group, the terminal, the
//! signals sent to us, and waiting until it ends.
//!
//! The command runs in a process group of its own, so that a signal sent to
//! our group (`kill -INT -- -PGID`) reaches only us, and we pass it on once.
//! If we have the terminal's foreground, the command gets it: Ctrl-C and
//! Ctrl-\ then reach only the command, and it can read the terminal. When it
//! stops (Ctrl-Z), we take the terminal back and stop too; on SIGCONT (`fg`,
//! `bg`) we continue it, giving it the terminal if we are in the foreground.
//!
//! Except inside someone else's foreground job (a script run from a prompt, a
//! pipeline such as `lockfile run ... | less`): there the command stays in our
//! group, as flock(1)'s does, so that Ctrl-C still stops the whole script and
//! `less` keeps the terminal; the terminal's signals reach the command
//! directly and are not passed on.

use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;

use rustix::fs::{FileType, fstat};
use rustix::io::{Errno, FdFlags, fcntl_getfd, fcntl_setfd};
use rustix::process::{Pid, WaitId, WaitIdOptions, getpgrp, getpid, waitid};

use super::forward::Forwarder;
use super::job::Job;
use super::terminal::Terminal;
use crate::sys::{Ended, Ending, NotStarted, Stop};

/// Runs `command`, letting it inherit `inherit` (the lock's descriptor) if
/// given, and waits until it ends, passing signals on meanwhile; `stop`, if
/// given, can end it from outside.
pub(crate) fn supervise(
    mut command: Command,
    inherit: Option<BorrowedFd<'_>>,
    stop: Option<Stop>,
) -> Result<Ended, NotStarted> {
    let (own_group, terminal) = choose_group();
    let forwarder = Forwarder::start(own_group).map_err(NotStarted::Setup)?;
    if let Some(signal) = forwarder.early() {
        forwarder.stop();
        return Err(NotStarted::Signal(signal));
    }
    if own_group {
        command.process_group(0);
    }
    let spawned = with_inheritable(inherit, || command.spawn());
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            forwarder.stop();
            return Err(NotStarted::Spawn(err));
        }
    };
    let pid = Pid::from_child(&child);
    let job = Arc::new(Job {
        pid,
        own_group,
        our_group: getpgrp(),
        terminal,
    });
    if own_group {
        job.hand_terminal_over();
    }
    forwarder.forward_to(&job);
    let ender = stop.map(|stop| end_when_told(stop, Arc::clone(&job)));
    let waited = wait_for_exit(&job);
    if let Some((exited, ender)) = ender {
        // Joined before the command is reaped, so no signal of its can reach
        // a process that reused the pid.
        let _ = exited.send(Ending::Exited);
        let _ = ender.join();
    }
    forwarder.stop();
    job.take_terminal_back();
    // Reaped only now that nothing sends it signals any more.
    let status = child.wait();
    waited.map_err(NotStarted::Setup)?;
    let status = status.map_err(NotStarted::Setup)?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Code(code),
        (None, Some(signal)) => Ended::Signal(signal),
        (None, None) => Ended::Code(1),
    })
}

/// A thread that ends the command when `stop` fires: SIGTERM to its group,
/// then SIGKILL after the grace period, unless it exits first.
fn end_when_told(stop: Stop, job: Arc<Job>) -> (std::sync::mpsc::Sender<Ending>, JoinHandle<()>) {
    let exited = stop.exited.clone();
    let ender = std::thread::spawn(move || {
        if stop.events.recv() != Ok(Ending::Now) {
            return;
        }
        stop.mark_fired();
        job.signal(libc::SIGTERM);
        // A stopped command would not act on SIGTERM until continued.
        job.signal(libc::SIGCONT);
        match stop.events.recv_timeout(stop.grace) {
            Err(RecvTimeoutError::Timeout) => job.signal(libc::SIGKILL),
            Ok(_) | Err(RecvTimeoutError::Disconnected) => {}
        }
    });
    (exited, ender)
}

/// Whether the command gets its own process group, and the terminal it may
/// be handed (see the module's documentation).
fn choose_group() -> (bool, Option<Terminal>) {
    let terminal = Terminal::open();
    let our_group = getpgrp();
    match terminal {
        Some(terminal) if terminal.foreground() == Some(our_group) => {
            // A shell's job of our own is what a leader of its group is; a
            // pipe on stdout means other processes of the job share the terminal.
            let own_job = our_group == getpid() && !stdout_is_a_pipe();
            if own_job {
                (true, Some(terminal))
            } else {
                (false, None)
            }
        }
        terminal => (true, terminal),
    }
}

fn stdout_is_a_pipe() -> bool {
    fstat(std::io::stdout()).is_ok_and(|stat| {
        matches!(
            FileType::from_raw_mode(stat.st_mode),
            FileType::Fifo | FileType::Socket
        )
    })
}

/// Runs `spawn` with `fd` inheritable (close-on-exec cleared), and puts the
/// flag back after: the lock's descriptor goes to the command and to nothing
/// else. Only this thread starts processes, so no other child can slip in.
fn with_inheritable<T>(
    fd: Option<BorrowedFd<'_>>,
    spawn: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    let Some(fd) = fd else { return spawn() };
    let flags = fcntl_getfd(fd)?;
    fcntl_setfd(fd, flags - FdFlags::CLOEXEC)?;
    let spawned = spawn();
    let _ = fcntl_setfd(fd, flags);
    spawned
}

/// Waits until the command has exited, leaving it unreaped; handles its stops
/// meanwhile when it has a group of its own (and so job control is ours).
fn wait_for_exit(job: &Job) -> io::Result<()> {
    let mut options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    if job.own_group {
        options |= WaitIdOptions::STOPPED;
    }
    loop {
        match waitid(WaitId::Pid(job.pid), options) {
            Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
            Ok(Some(status)) if status.stopped() => {
                // Consume this stop, which NOWAIT left to be reported again.
                let _ = waitid(
                    WaitId::Pid(job.pid),
                    WaitIdOptions::STOPPED | WaitIdOptions::NOHANG,
                );
                job.stopped(status.stopping_signal().unwrap_or(libc::SIGSTOP));
            }
            Ok(_) => return Ok(()),
        }
    }
}
