//! The supervise stage of `lockfile run`: the command runs under the lock
//! the take stage got, supervised by the platform's supervisor
//! ([`sys::supervise`]) over what the backend says of the lock; then the
//! lock is released and the command's end becomes ours.

use std::io;
use std::process::Command;

use crate::backend::Held;
use crate::cli::RunArgs;
use crate::report::{self, ERROR_EXIT};
use crate::sys::{self, Ended, NotStarted, Supervision};

/// Exit statuses for a command that could not be started, as shells use them.
const NOT_EXECUTABLE: u8 = 126;
const NOT_FOUND: u8 = 127;

/// Our exit status when the lock was lost while the command ran (and we
/// ended it): sysexits' `EX_TEMPFAIL`, "try again later", which is what the
/// caller can do.
const LOST: u8 = 75;

/// Runs the command `args` give under `held`, releases it, and gives our
/// exit status (or dies by the command's signal).
pub(crate) fn run(args: &RunArgs, held: Box<dyn Held>) -> u8 {
    let mut command = command(args);
    let inherit = held.hand_down(&mut command);
    let stop = held.stop();
    let deadline = stop.as_ref().map(sys::Stop::deadline);
    let outcome = sys::supervise(
        command,
        Supervision {
            inherit,
            tied: held.tied(),
            stop,
        },
    );
    if let Some(deadline) = deadline.filter(|deadline| deadline.fired()) {
        let lost = held.lost(deadline.late());
        // The lease is gone or going: whatever release says adds nothing.
        let _ = held.release();
        return report::fail(&lost, LOST);
    }
    // Released (our descriptor closed) before we exit or die; the command's
    // copy, if it left one to a process still running, keeps the lock.
    if let (Err(err), true) = (held.release(), args.verbose) {
        report::say(&format!("releasing: {err}"));
    }
    exit_status(args, outcome)
}

/// Our exit status once the lock is released: the command's, or how it could
/// not be started. A command killed by a signal kills us the same way.
fn exit_status(args: &RunArgs, outcome: Result<Ended, NotStarted>) -> u8 {
    match outcome {
        Ok(Ended::Code(code)) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
        Ok(Ended::Signal(signal)) | Err(NotStarted::Signal(signal)) => sys::die_by(signal),
        Err(NotStarted::Spawn(err)) => {
            let code = match err.kind() {
                io::ErrorKind::NotFound => NOT_FOUND,
                _ => NOT_EXECUTABLE,
            };
            let command = command(args);
            let program = command.get_program().to_string_lossy();
            report::fail(&format!("cannot run {program}: {err}"), code)
        }
        Err(NotStarted::Setup(err)) => {
            report::fail(&format!("running the command: {err}"), ERROR_EXIT)
        }
    }
}

fn command(args: &RunArgs) -> Command {
    if let Some(line) = &args.shell_command {
        return sys::shell_command(line.as_ref());
    }
    let (program, arguments) = args.command.split_first().expect("clap requires COMMAND");
    let mut command = Command::new(program);
    command.args(arguments);
    command
}
