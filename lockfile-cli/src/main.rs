//! `lockfile`: run a command under a lock file, and tell who holds a lock.

mod cli;
mod duration;
mod escape;
mod holder;
mod run;
mod status;
mod sys;

use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;

/// Exit status for bad usage (as clap uses it) and for errors before the command ran.
const ERROR_EXIT: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::try_parse().unwrap_or_else(|err| with_usage(err).exit());
    ExitCode::from(match &cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Status(args) => status::status(args),
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
