//! `lockfile run`: the command runs while the lock is held.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
use scoped_lockfile::{LockError, LockOptions};

use crate::cli::RunArgs;
use crate::forward::Forwarder;
use crate::{ERROR_EXIT, fail};

/// Exit statuses for a command that could not be started, as shells use them.
const NOT_EXECUTABLE: u8 = 126;
const NOT_FOUND: u8 = 127;

pub(crate) fn run(args: &RunArgs) -> u8 {
    let mut options = LockOptions::new().content_template(&args.content_template);
    if args.no_wait {
        options = options.timeout(Duration::ZERO);
    } else if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    let lock = match options.lock(&args.path) {
        Ok(lock) => lock,
        Err(err @ (LockError::Contended { .. } | LockError::Timeout { .. })) => {
            return fail(&err, args.conflict_exit_code);
        }
        Err(err) => return fail(&err, ERROR_EXIT),
    };
    // Catch the stop signals only now: until the lock is held they should end
    // lockfile (and its wait) as usual.
    let forwarder = match Forwarder::start() {
        Ok(forwarder) => forwarder,
        Err(err) => return fail(&format!("cannot handle signals: {err}"), ERROR_EXIT),
    };
    let (program, arguments) = args.command.split_first().expect("clap requires COMMAND");
    let code = match Command::new(program).args(arguments).spawn() {
        Ok(child) => {
            forwarder.forward_to(child.id());
            match wait(child, forwarder) {
                Ok(status) => exit_code(status),
                Err(err) => fail(&format!("waiting for the command: {err}"), ERROR_EXIT),
            }
        }
        Err(err) => {
            forwarder.stop();
            let code = match err.kind() {
                io::ErrorKind::NotFound => NOT_FOUND,
                _ => NOT_EXECUTABLE,
            };
            fail(
                &format!("cannot run {}: {err}", program.to_string_lossy()),
                code,
            )
        }
    };
    match lock.close() {
        Ok(()) => code,
        Err(err) => fail(&err, ERROR_EXIT),
    }
}

/// Waits for the command to exit, stops forwarding while its pid is still
/// reserved (exited but not reaped), then reaps it.
fn wait(mut child: Child, forwarder: Forwarder) -> io::Result<ExitStatus> {
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    if let Some(pid) = pid {
        let exited = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
        loop {
            match waitid(WaitId::Pid(pid), exited) {
                Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(err.into()),
                Ok(_) => break,
            }
        }
    }
    forwarder.stop();
    child.wait()
}

/// The command's exit code, or 128 + the signal that ended it, as shells report.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => ERROR_EXIT,
    }
}
