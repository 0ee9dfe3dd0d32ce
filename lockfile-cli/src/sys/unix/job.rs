//! The command as a job: its process (group), who has the terminal, and what
//! to do when it stops.

use std::sync::Arc;

use rustix::process::{Pid, Signal, getpgid, kill_process, kill_process_group};

use super::signals;
use super::terminal::Terminal;
use crate::sys::Deadline;

/// A running command, as the signal thread and the waiting thread see it.
pub(crate) struct Job {
    pub(crate) pid: Pid,
    /// The command's process group when it has one of its own (its pid, or
    /// its group leader's); `None` when it is in ours and gets our group's
    /// signals directly.
    pub(crate) group: Option<Pid>,
    pub(crate) our_group: Pid,
    /// Our controlling terminal, if the command may be handed its foreground.
    pub(crate) terminal: Option<Terminal>,
    /// Whether we follow the command's stops (we are a job of an
    /// interactive shell, which can continue us).
    pub(crate) follows_stops: bool,
    /// For a lock that can be lost: the command must not run past this.
    pub(crate) deadline: Option<Arc<Deadline>>,
}

impl Job {
    /// Sends `signal` to the command: to its whole group when it has one of
    /// its own, as the terminal or a `kill` of our group would have, else to
    /// its process alone. Only called while the command is unreaped, so
    /// neither id can have been reused.
    pub(crate) fn signal(&self, signal: i32) {
        let Some(signal) = Signal::from_named_raw(signal) else {
            return;
        };
        // It may have exited a moment ago: nothing to do then.
        let _ = match self.group {
            Some(group) => kill_process_group(group, signal),
            None => kill_process(self.pid, signal),
        };
    }

    /// Continues the command, unless the lock it runs under is lost by now:
    /// then it is killed where it stands, without running another instruction.
    pub(crate) fn resume(&self) {
        if let Some(deadline) = &self.deadline
            && deadline.passed()
        {
            deadline.mark_killed(true);
            self.signal(libc::SIGKILL);
            return;
        }
        self.hand_terminal_over();
        self.signal(libc::SIGCONT);
    }

    /// Whether `sender` is the command or, when it has its own group, any
    /// process in it: what it sends us is not passed back to it.
    pub(crate) fn sent_by_command(&self, sender: i32) -> bool {
        let Some(sender) = Pid::from_raw(sender) else {
            return false;
        };
        sender == self.pid
            || self
                .group
                .is_some_and(|group| getpgid(Some(sender)) == Ok(group))
    }

    /// Gives the command the terminal's foreground if our group has it.
    pub(crate) fn hand_terminal_over(&self) {
        if let (Some(terminal), Some(group)) = (&self.terminal, self.group)
            && terminal.foreground() == Some(self.our_group)
        {
            terminal.give_to(group);
        }
    }

    /// Takes the terminal's foreground back for our group if the command's has it.
    pub(crate) fn take_terminal_back(&self) {
        if let (Some(terminal), Some(group)) = (&self.terminal, self.group)
            && terminal.foreground() == Some(group)
        {
            terminal.give_to(self.our_group);
        }
    }

    /// The command was stopped by `signal` (only watched under job
    /// control). A command that touched the terminal before it was handed the
    /// foreground (SIGTTIN, SIGTTOU) is handed it and continued; any other
    /// stop is the job's: take the terminal back and stop ourselves alike, so
    /// the shell sees the job stopped. On SIGCONT (`fg`, `bg`), the signal
    /// thread continues the command ([`Job::resume`]).
    pub(crate) fn stopped(&self, signal: i32) {
        if let (Some(terminal), Some(group)) = (&self.terminal, self.group)
            && matches!(signal, libc::SIGTTIN | libc::SIGTTOU)
        {
            let foreground = terminal.foreground();
            if foreground == Some(self.our_group) {
                terminal.give_to(group);
                self.resume();
                return;
            }
            if foreground == Some(group) {
                self.resume();
                return;
            }
        }
        self.take_terminal_back();
        signals::stop_like(signal);
    }
}
