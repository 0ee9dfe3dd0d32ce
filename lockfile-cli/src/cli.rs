//! The command line, as clap sees it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Run a command under a lock file, and tell who holds a lock.
///
/// The lock is the kernel's flock(2) lock on the file, the one util-linux
/// flock(1), Python's zc.lockfile and the Rust `scoped-lockfile` crate take, so all of
/// them exclude each other. While held, the file says who holds it.
#[derive(Debug, Parser)]
#[command(name = "lockfile", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXAMPLES: &str = "\
Examples:
  lockfile run deploy.lock -- ./deploy.sh            wait for the lock, then deploy
  lockfile run --timeout 5s build.lock -- make       give up after 5 seconds
  lockfile run --no-wait cron.lock -- ./nightly.sh   skip the run if one is going
  lockfile status deploy.lock                        who holds it? (exit 0 free, 1 held)
  lockfile status --json deploy.lock";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Take the lock on PATH, run COMMAND while holding it, then release it.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Say whether the lock on PATH is held right now, and by whom.
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
}

const RUN_HELP: &str = "\
The lock is taken on exactly PATH, as flock(1) does; the library's LockedContext
and #[locked] append \".lock\" to a name, so `lockfile run job.lock` pairs with
`LockedContext::new(\"job\")`.

While COMMAND runs, the file says `<pid>;<hostname>` of this lockfile process
(see --content-template). COMMAND does not inherit the lock's descriptor.
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to lockfile are passed on to COMMAND;
the lock is released only once COMMAND has ended.

Exit status: COMMAND's own, or 128+N if a signal N ended it; the conflict exit
code if the lock was held (no wait) or the timeout passed; 2 for bad usage or
any other error before COMMAND ran; 126 or 127 if COMMAND could not be started.

Examples:
  lockfile run deploy.lock -- ./deploy.sh --prod
  lockfile run --timeout '1m 30s' build.lock -- sh -c 'make && make install'
  lockfile run --no-wait --conflict-exit-code 0 cron.lock -- ./nightly.sh";

const STATUS_HELP: &str = "\
Exit status: 0 if the lock is free (or the file does not exist), 1 if it is
held, 2 on error. Checking never creates or changes the file: it tries a shared
lock without waiting and drops it at once.

When the file reads `<pid>;<hostname>` and the hostname is this host's, the
status also says whether that process is still running.

Examples:
  lockfile status deploy.lock
  lockfile status --json deploy.lock";

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Wait at most this long for the lock (e.g. 500ms, 5s, '1m 30s'); without
    /// it, wait as long as it takes.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Do not wait: fail at once if the lock is held (same as --timeout 0s).
    #[arg(long, conflicts_with = "timeout")]
    pub(crate) no_wait: bool,

    /// What the lock file says while held: {pid}, {hostname}, literal text, and
    /// {{ or }} for braces.
    #[arg(long, value_name = "TEMPLATE", default_value = "{pid};{hostname}")]
    pub(crate) content_template: String,

    /// Exit status when the lock is held or the timeout passes.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) conflict_exit_code: u8,

    /// The lock file, created if missing and never deleted.
    pub(crate) path: PathBuf,

    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    pub(crate) json: bool,

    /// The lock file.
    pub(crate) path: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
