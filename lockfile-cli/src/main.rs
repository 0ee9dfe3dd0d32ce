//! `lockfile`: run a command under a lock file, and tell who holds a lock.

mod cli;
mod forward;
mod run;
mod status;

use std::fmt::Display;
use std::process::ExitCode;

use clap::Parser;

/// Exit status for bad usage (as clap uses it) and for errors before the command ran.
const ERROR_EXIT: u8 = 2;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    ExitCode::from(match &cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Status(args) => status::status(args),
    })
}

/// Prints a one-line error and gives back the exit status to use.
fn fail(message: &dyn Display, code: u8) -> u8 {
    eprintln!("lockfile: {message}");
    code
}
