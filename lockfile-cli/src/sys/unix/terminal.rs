//! The controlling terminal: whose process group is in its foreground.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use rustix::process::Pid;
use rustix::termios::{tcgetpgrp, tcsetpgrp};

use super::ffi;

/// Our controlling terminal, if we have one.
pub(crate) struct Terminal {
    tty: File,
}

impl Terminal {
    /// Opens `/dev/tty`, which is our controlling terminal whichever
    /// descriptors point where; `None` without one (cron, systemd, CI).
    pub(crate) fn open() -> Option<Self> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/tty")
            .ok()
            .map(|tty| Self { tty })
    }

    /// The process group in the terminal's foreground.
    pub(crate) fn foreground(&self) -> Option<Pid> {
        tcgetpgrp(&self.tty).ok()
    }

    /// Puts `group` in the terminal's foreground. From a background group the
    /// kernel would stop us with SIGTTOU instead, unless it is blocked: it is,
    /// in this thread, for the call.
    pub(crate) fn give_to(&self, group: Pid) {
        let was_blocked = ffi::block_in_this_thread(libc::SIGTTOU, true);
        let _ = tcsetpgrp(&self.tty, group);
        if was_blocked.is_ok_and(|was| !was) {
            let _ = ffi::block_in_this_thread(libc::SIGTTOU, false);
        }
    }
}
