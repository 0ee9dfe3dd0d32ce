//! Running the command under the lock: its process group, the terminal, the
//! signals sent to us, ending it when its lock is lost, and waiting until it
//! ends. One supervisor for every backend, over what [`Supervision`] says.
//!
//! The command runs in a process group of its own, so that a signal sent to
//! our group (`kill -INT -- -PGID`) reaches only us, and we pass it on once.
//! If we have the terminal's foreground, the command gets it: Ctrl-C and
//! Ctrl-\ then reach only the command, and it can read the terminal.
//!
//! Job control is followed only when we are a job of an interactive shell
//! (we lead our process group, on our controlling terminal): when the
//! command stops (Ctrl-Z), we take the terminal back and stop too, and the
//! shell continues us (`fg`, `bg`), and we the command. Anywhere else
//! (cron, systemd, `setsid`, a pipeline's middle) nobody would continue us:
//! a stopped command is left stopped, and we keep holding the lock (and
//! renewing a lease) until someone continues it.
//!
//! Except inside someone else's foreground job (a script run from a prompt, a
//! pipeline such as `lockfile run ... | less`): there the command stays in our
//! group, as flock(1)'s does, so that Ctrl-C still stops the whole script and
//! `less` keeps the terminal; the terminal's signals reach the command
//! directly and are not passed on.
//!
//! A lock tied to us ([`Supervision::tied`]) puts the command in the group
//! of a [`Leader`] that kills the group if we die; the command itself also
//! gets the kernel's parent-death signal (Linux), which is all there is when
//! it stays in our group.

use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, fstat};
use rustix::io::{Errno, FdFlags, fcntl_getfd, fcntl_setfd};
use rustix::process::{Pid, WaitId, WaitIdOptions, getpgrp, getpid, waitid};

use super::ffi;
use super::forward::Forwarder;
use super::job::Job;
use super::leader::Leader;
use super::terminal::Terminal;
use crate::sys::{Ended, Ending, NotStarted, Stop, Supervision};

/// How far past its deadline a kill counts as late: more than a timer's slack.
const LATE: Duration = Duration::from_millis(100);

/// Runs `command` as `supervision` says, and waits until it ends, passing
/// signals on meanwhile.
pub(crate) fn supervise(
    mut command: Command,
    supervision: Supervision<'_>,
) -> Result<Ended, NotStarted> {
    let Supervision {
        inherit,
        tied,
        stop,
    } = supervision;
    let place = choose_place();
    let forwarder = Forwarder::start(place.own_group).map_err(NotStarted::Setup)?;
    if let Some(signal) = forwarder.early() {
        forwarder.stop();
        return Err(NotStarted::Signal(signal));
    }
    let leader = if tied && place.own_group {
        match Leader::start() {
            Ok(leader) => Some(leader),
            Err(err) => {
                forwarder.stop();
                return Err(NotStarted::Setup(err));
            }
        }
    } else {
        None
    };
    if place.own_group {
        command.process_group(
            leader
                .as_ref()
                .map_or(0, |leader| leader.group().as_raw_nonzero().get()),
        );
    }
    if tied {
        ffi::die_with_parent(&mut command);
    }
    ffi::start_as_flock_would(&mut command);
    let spawned = with_inheritable(inherit, || command.spawn());
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            forwarder.stop();
            if let Some(leader) = leader {
                leader.dismiss();
            }
            return Err(NotStarted::Spawn(err));
        }
    };
    let pid = Pid::from_child(&child);
    let group = place
        .own_group
        .then(|| leader.as_ref().map_or(pid, Leader::group));
    let job = Arc::new(Job {
        pid,
        group,
        our_group: getpgrp(),
        terminal: place.terminal,
        follows_stops: place.follows_stops,
        deadline: stop.as_ref().map(Stop::deadline),
    });
    job.hand_terminal_over();
    forwarder.forward_to(&job);
    let ender = stop.map(|stop| end_when_due(stop, Arc::clone(&job)));
    let waited = wait_for_exit(&job);
    if let Some((exited, ender)) = ender {
        // Joined before the command is reaped, so no signal of its can reach
        // a process that reused the pid.
        let _ = exited.send(Ending::Exited);
        let _ = ender.join();
    }
    forwarder.stop();
    job.take_terminal_back();
    if let Some(leader) = leader {
        leader.end_group();
    }
    // Reaped only now that nothing sends it signals any more.
    let status = child.wait();
    waited.map_err(NotStarted::Setup)?;
    Ok(super::ended(status.map_err(NotStarted::Setup)?))
}

/// A thread that ends the command by `stop`'s deadline: SIGTERM to its
/// group a grace before, SIGKILL at the deadline (at once if it is past,
/// as after we were stopped ourselves), unless it exits first.
fn end_when_due(stop: Stop, job: Arc<Job>) -> (std::sync::mpsc::Sender<Ending>, JoinHandle<()>) {
    let exited = stop.exited.clone();
    let ender = std::thread::spawn(move || {
        let deadline = &stop.deadline;
        let mut terminated: Option<Instant> = None;
        loop {
            // Read before the clock: a deadline of "now" is then never ahead.
            let known = deadline.kill_by();
            let now = Instant::now();
            let kill_by = known.unwrap_or(now);
            let kill_at = terminated.map_or(kill_by, |at| kill_by.min(at + stop.grace));
            if now >= kill_at {
                // Woken well after the deadline (we were stopped), or told
                // the lock is gone: the command may have overlapped.
                let late = known.is_none() || now >= kill_by + LATE;
                deadline.mark_killed(late);
                job.signal(libc::SIGKILL);
                return;
            }
            let term_at = kill_by.checked_sub(stop.grace).unwrap_or(now);
            if terminated.is_none() && now >= term_at {
                deadline.mark_fired();
                job.signal(libc::SIGTERM);
                // A stopped command would not act on SIGTERM until continued.
                job.signal(libc::SIGCONT);
                terminated = Some(now);
                continue;
            }
            let next = if terminated.is_some() {
                kill_at
            } else {
                term_at
            };
            match stop
                .events
                .recv_timeout(next.saturating_duration_since(now))
            {
                Ok(Ending::Lost) | Err(RecvTimeoutError::Timeout) => {}
                Ok(Ending::Exited) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    (exited, ender)
}

/// Where the command runs, and what of the terminal it gets.
struct Place {
    /// In a process group of its own.
    own_group: bool,
    /// Our controlling terminal, if the command may be handed its foreground.
    terminal: Option<Terminal>,
    /// We are a job of an interactive shell: follow the command's stops.
    follows_stops: bool,
}

/// Where the command runs (see the module's documentation).
fn choose_place() -> Place {
    let terminal = Terminal::open();
    let our_group = getpgrp();
    // A shell's job of our own is what a leader of its group is.
    let leader = our_group == getpid();
    match terminal {
        Some(terminal) if terminal.foreground() == Some(our_group) => {
            // A pipe on stdout means other processes of the job share the terminal.
            if leader && !stdout_is_a_pipe() {
                Place {
                    own_group: true,
                    terminal: Some(terminal),
                    follows_stops: true,
                }
            } else {
                Place {
                    own_group: false,
                    terminal: None,
                    follows_stops: false,
                }
            }
        }
        // A background job of an interactive shell (`&`), or no terminal at all.
        terminal => Place {
            own_group: true,
            follows_stops: leader && terminal.is_some(),
            terminal,
        },
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

/// Waits until the command has exited, leaving it unreaped; follows its
/// stops meanwhile under job control.
fn wait_for_exit(job: &Job) -> io::Result<()> {
    let mut options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    if job.follows_stops {
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
