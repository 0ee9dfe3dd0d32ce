//! `lockfile`: run a command under a lock file, tell who holds a lock, and
//! util-linux flock(1) for every platform (`lockfile flock`, or `lockfile`
//! invoked as `flock`).

mod cli;
mod duration;
mod escape;
#[cfg(feature = "etcd")]
mod etcd;
mod flock;
mod holder;
mod run;
mod status;
mod sys;

use std::ffi::OsString;
use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;

/// Exit status for bad usage (as clap uses it) and for errors before the command ran.
const ERROR_EXIT: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // flock(1) reads its own command line, options after the file and all:
    // it is never shown to clap.
    if args
        .first()
        .is_some_and(|argv0| flock::is_flock_name(argv0))
    {
        return ExitCode::from(flock::main(&args[1..], "flock"));
    }
    if args.get(1).is_some_and(|arg| arg == "flock") {
        return ExitCode::from(flock::main(&args[2..], "lockfile flock"));
    }
    let cli = cli::Cli::try_parse_from(&args).unwrap_or_else(|err| with_usage(err).exit());
    ExitCode::from(match &cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Status(args) => status::status(args),
        cli::Command::Flock { .. } => unreachable!("read by flock::main above"),
    })
}

/// Adds the usage line to errors that clap prints without one (a bad value,
/// say), so every usage error shows the one line and how to call the command.
fn with_usage(mut err: clap::Error) -> clap::Error {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    if err.get(ContextKind::Usage).is_none() && err.use_stderr() {
        let mut command = cli::Cli::command();
        command.build();
        let subcommand = std::env::args().nth(1);
        let usage = match subcommand.and_then(|name| command.find_subcommand_mut(name)) {
            Some(subcommand) => subcommand.render_usage(),
            None => command.render_usage(),
        };
        err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
    }
    err
}

/// Prints a one-line error and gives back the exit status to use.
fn fail(message: &dyn Display, code: u8) -> u8 {
    say(message);
    code
}

/// One line on stderr; what came from files and paths cannot drive the terminal.
fn say(message: &dyn Display) {
    eprintln!("lockfile: {}", escape::for_terminal(&message.to_string()));
}
