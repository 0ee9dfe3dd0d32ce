//! The command's group leader, for a lock tied to `lockfile` (etcd's lease):
//! a small process of ours that leads the process group the command runs
//! in, and kills that whole group when `lockfile` dies, even by SIGKILL.
//!
//! The kernel's parent-death signal reaches only a direct child (the
//! command), not what the command started (a script's children). The leader
//! holds the read end of a pipe whose write end only `lockfile` has: when
//! `lockfile` dies, however, the read returns end-of-file and the leader
//! sends SIGKILL to its group. Leading the group itself, it keeps the group's
//! id from being reused while it lives, so the kill cannot reach strangers.
//! It ignores the signals its group is sent (a terminal's Ctrl-C, what
//! `lockfile` passes on), so it outlives them. It is `lockfile` itself, run
//! under another name.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, getpgrp, kill_process_group};

use super::ffi;

/// The name the leader runs under (its `argv[0]`, what `ps` shows).
const NAME: &str = "lockfile-group-leader";

/// Whether this process was started as a group leader.
pub(crate) fn is_leader(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new(NAME))
}

/// The leader's whole life; see the module's documentation.
pub(crate) fn lead() -> ! {
    for signal in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGWINCH,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGPIPE,
    ] {
        ffi::ignore(signal);
    }
    let stdin = io::stdin();
    let mut byte = [0_u8; 1];
    let dismissed = loop {
        match rustix::io::read(&stdin, &mut byte) {
            Ok(0) => break false,
            Ok(_) => break true,
            Err(Errno::INTR) => {}
            Err(_) => break false,
        }
    };
    if !dismissed {
        // `lockfile` is gone: so is the lock. This kills us too.
        let _ = kill_process_group(getpgrp(), Signal::KILL);
    }
    std::process::exit(0)
}

/// A running leader, whose group the command joins.
pub(crate) struct Leader {
    child: Child,
}

impl Leader {
    /// Starts a leader in a new process group of its own.
    pub(crate) fn start() -> io::Result<Self> {
        let mut command = Command::new(own_executable()?);
        command
            .arg0(NAME)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        Ok(Self {
            child: command.spawn()?,
        })
    }

    /// The group it leads.
    pub(crate) fn group(&self) -> Pid {
        Pid::from_child(&self.child)
    }

    /// Ends the group once the command has ended: what the command left
    /// behind would run on without the lock. The leader goes with it.
    pub(crate) fn end_group(mut self) {
        let _ = kill_process_group(self.group(), Signal::KILL);
        let _ = self.child.wait();
    }

    /// Lets the leader go without touching its group (the command was never
    /// started).
    pub(crate) fn dismiss(mut self) {
        if let Some(mut pipe) = self.child.stdin.take() {
            let _ = io::Write::write_all(&mut pipe, b"x");
        }
        let _ = self.child.wait();
    }
}

/// This program, to run again as the leader: the running image itself on
/// Linux, even if the file was replaced since.
fn own_executable() -> io::Result<std::path::PathBuf> {
    if cfg!(target_os = "linux") {
        Ok("/proc/self/exe".into())
    } else {
        std::env::current_exe()
    }
}
