//! `lockfile`: run a command under a lock file, tell who holds a lock, and
//! util-linux flock(1) for every platform (`lockfile flock`, or `lockfile`
//! invoked as `flock`).
//!
//! By stage (ARCHITECTURE.md, "The command line by stage"): parse ([`cli`]) → choose a backend
//! ([`backend`]) → take ([`take`]) → supervise ([`run`](mod@run), over [`sys`]) →
//! report ([`status`](mod@status), [`report`], with [`describe`] wording holders).
//! `flock` is flock(1)'s own pipeline on raw descriptors.

mod backend;
mod cli;
mod describe;
mod duration;
mod escape;
mod flock;
mod report;
mod run;
mod status;
mod sys;
mod take;

use std::ffi::OsString;
use std::process::ExitCode;

use backend::Choice;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    sys::at_start(args.first().map(OsString::as_os_str));
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
    let cli = cli::parse(&args).unwrap_or_else(|err| with_usage(err).exit());
    ExitCode::from(match &cli.command {
        cli::Command::Run(args) => run(args),
        cli::Command::Status(args) => status(args),
        cli::Command::Flock { .. } => unreachable!("read by flock::main above"),
    })
}

/// `lockfile run`: every stage in turn.
fn run(args: &cli::RunArgs) -> u8 {
    let choice = Choice {
        etcd: args.backend.etcd.as_deref(),
        ttl: args.ttl,
        kill_after: args.kill_after,
        close: args.close,
        quiet: args.quiet,
    };
    let backend = match backend::choose(&choice) {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    match take::take(&backend, args) {
        Ok(held) => run::run(args, held),
        Err(code) => code,
    }
}

/// `lockfile status`: choose, look, report.
fn status(args: &cli::StatusArgs) -> u8 {
    let choice = Choice {
        etcd: args.backend.etcd.as_deref(),
        quiet: args.json,
        ..Choice::default()
    };
    let backend = match backend::choose(&choice) {
        Ok(backend) => backend,
        Err(code) => return code,
    };
    match backend.status(&args.path) {
        Ok(seen) => status::report(&seen, args.json),
        Err(code) => code,
    }
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
