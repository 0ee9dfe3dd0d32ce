//! The command line, as clap sees it (`lockfile flock` is read by
//! `crate::flock`, the way flock(1) reads its own).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Run a command under a lock file, tell who holds a lock, or act as flock(1).
///
/// The lock is the kernel's flock(2) lock on the file, the one util-linux
/// flock(1), Python's zc.lockfile and the Rust `scoped-lockfile` crate take, so all of
/// them exclude each other. While `run` holds it, the file says who holds it.
#[derive(Debug, Parser)]
#[command(name = "lockfile", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXAMPLES: &str = "\
Examples:
  lockfile run deploy.lock ./deploy.sh               wait for the lock, then deploy
  lockfile run -w 5 build.lock -- make               give up after 5 seconds
  lockfile run -n -q cron.lock ./nightly.sh          skip the run, silently, if one is going
  lockfile status deploy.lock                        who holds it? (exit 0 free, 1 held)
  lockfile flock -n /var/lock/x.lock -c 'job'        util-linux flock(1), anywhere
  lockfile run --etcd http://etcd-1:2379 migrations -- ./migrate
                                                     the same lock on every host, on etcd";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Take the lock on PATH, run COMMAND while holding it, then release it.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Say whether the lock on PATH is held right now, and by whom.
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// util-linux flock(1): the same options, exit codes and output (see `lockfile flock --help`).
    ///
    /// Also what `lockfile` does when invoked as `flock` (a symlink `flock -> lockfile`).
    #[command(disable_help_flag = true)]
    Flock {
        /// flock(1)'s arguments: options, then FILE|DIRECTORY and a command with
        /// its arguments, FILE|DIRECTORY -c COMMAND, or a descriptor number.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<OsString>,
    },
}

const RUN_HELP: &str = "\
The lock is taken on exactly PATH, as flock(1) does; the library's LockedContext
and #[locked] append \".lock\" to a name, so `lockfile run job.lock` pairs with
`LockedContext::new(\"job\")`. PATH is created (0644 less the umask) if missing,
and never deleted.

While COMMAND runs, the file says `<pid>;<hostname>` of this lockfile process
(see --content-template); with -s/--shared, readers write nothing and the file
keeps what the last writer wrote. COMMAND inherits the lock's descriptor, as with
flock(1): the lock lasts while lockfile or COMMAND (or anything COMMAND started
that kept the descriptor) lives, so killing lockfile, even with SIGKILL, never
lets a second command in while the first runs. -o/--close opts out. A lock file
this user cannot write (another user's, 0644) is locked through a read-only
descriptor and left as it is: it then does not name the holder.

Signals: COMMAND runs in a process group of its own and, if lockfile has the
terminal, gets it (Ctrl-C, Ctrl-Z and reading the terminal work as usual).
Signals sent to lockfile or its group (HUP, INT, QUIT, TERM, USR1, USR2, ALRM,
WINCH, TSTP, CONT) are passed on to COMMAND's group, once. Inside a script or
a pipeline run from a terminal, COMMAND stays in the script's group, as with
flock(1), so Ctrl-C stops the whole script. Under systemd use KillMode=mixed:
KillMode=control-group signals every process itself, so COMMAND would get a
signal twice.

Exit status: COMMAND's own; if a signal killed COMMAND, lockfile dies by the
same signal (a shell shows 128+N); the conflict exit code (-E, default 1) if
the lock is held with -n or the timeout passes; 126 or 127 if COMMAND could not
be started; 2 for bad usage or any other error before COMMAND ran; with
--etcd, 75 if the lease was lost while COMMAND ran and lockfile ended it.

On etcd (--etcd ENDPOINTS, or LOCKFILE_ETCD_ENDPOINTS set): PATH is the lock's
name on the cluster (its keys are NAME/<lease>, as etcdctl lock's), held while
lockfile renews its lease (--ttl, default 10s). COMMAND gets the lock's fencing
token in LOCKFILE_FENCING_TOKEN, to hand to what it writes to. If the lease is
lost while COMMAND runs (lockfile cut off from the cluster, or stopped, for
about the TTL), COMMAND's group gets SIGTERM, SIGKILL --kill-after later
(default 5s), and lockfile exits with 75. If lockfile dies, COMMAND is killed
with it (Linux), since the lease will expire. -o and -s do not apply.

Examples:
  lockfile run deploy.lock ./deploy.sh --prod
  lockfile run -w '1m 30s' build.lock -c 'make && make install'
  lockfile run -n -q -E 0 cron.lock -- ./nightly.sh    (in a crontab)
  lockfile run --etcd http://10.0.0.1:2379,http://10.0.0.2:2379 -n nightly -- ./nightly.sh";

const STATUS_HELP: &str = "\
Exit status: 0 if the lock is free (or the file does not exist), 1 if it is
held (\"held shared\" when readers hold it), 2 on error (a directory of PATH
that does not exist is one). Checking never creates or changes the file: it
tries the lock without waiting and drops it at once.

When the file reads `<pid>;<hostname>` and the hostname is this host's, the
status also says whether that process is still running; a lock held while its
recorded process is gone is held by a process that inherited it (the command
of a `lockfile run` that was killed). Control characters in the file are shown
escaped (\\x1b).

With --etcd (or LOCKFILE_ETCD_ENDPOINTS set), PATH is a lock's name on the
cluster; the status names its holder, its fencing token and how many wait.

Examples:
  lockfile status deploy.lock
  lockfile status --json deploy.lock
  lockfile status --etcd http://127.0.0.1:2379 migrations";

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one per flag, as clap reads them
pub(crate) struct RunArgs {
    /// Do not wait: fail at once if the lock is held (same as --timeout 0).
    #[arg(
        short = 'n',
        long = "no-wait",
        visible_alias = "nonblock",
        aliases = ["nonblocking", "nb"],
        conflicts_with = "timeout"
    )]
    pub(crate) no_wait: bool,

    /// Wait at most this long for the lock: seconds (5, 0.3) or a duration
    /// with units (500ms, '1m 30s'); without it, wait as long as it takes.
    #[arg(
        short = 'w',
        long,
        visible_alias = "wait",
        value_name = "DURATION",
        allow_negative_numbers = true,
        value_parser = crate::duration::parse_timeout
    )]
    pub(crate) timeout: Option<Duration>,

    /// Exit status when the lock is held (-n) or the timeout passes.
    #[arg(
        short = 'E',
        long,
        value_name = "N",
        allow_negative_numbers = true,
        default_value_t = 1,
        value_parser = parse_exit_code
    )]
    pub(crate) conflict_exit_code: u8,

    /// Take a shared (reader's) lock: any number of readers together, none
    /// while a writer holds it. Nothing is written into the file.
    #[arg(short = 's', long, visible_alias = "read")]
    pub(crate) shared: bool,

    /// Take an exclusive (writer's) lock: the default, as with flock(1).
    #[arg(short = 'x', long, visible_alias = "write", conflicts_with = "shared")]
    pub(crate) exclusive: bool,

    /// Nothing on stderr when the lock is held (-n) or the timeout passes.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Say on stderr that lockfile waits, and for whom.
    #[arg(short, long)]
    pub(crate) verbose: bool,

    /// Do not let COMMAND inherit the lock's descriptor: the lock is then
    /// released when lockfile ends, even if COMMAND lives on.
    #[cfg_attr(feature = "etcd", arg(conflicts_with = "etcd"))]
    #[arg(short = 'o', long)]
    pub(crate) close: bool,

    /// Run this command line through the shell ($SHELL, else /bin/sh), as
    /// flock(1) -c does, instead of COMMAND.
    #[arg(short = 'c', long = "command", value_name = "COMMAND_LINE")]
    pub(crate) shell_command: Option<OsString>,

    /// What the lock file says while held: {pid}, {hostname}, literal text, and
    /// {{ or }} for braces.
    #[arg(long, value_name = "TEMPLATE", default_value = "{pid};{hostname}")]
    pub(crate) content_template: String,

    /// Take the lock PATH names on the etcd cluster at ENDPOINTS
    /// (comma-separated URLs) instead of a lock file.
    #[cfg(feature = "etcd")]
    #[arg(long, value_name = "ENDPOINTS", env = "LOCKFILE_ETCD_ENDPOINTS")]
    pub(crate) etcd: Option<String>,

    /// With --etcd: the lease's time to live, how long the lock outlives a
    /// lockfile cut off or stopped (default 10s; whole seconds, rounded up).
    #[cfg(feature = "etcd")]
    #[arg(
        long,
        value_name = "DURATION",
        requires = "etcd",
        value_parser = crate::duration::parse_timeout
    )]
    pub(crate) ttl: Option<Duration>,

    /// With --etcd: how long COMMAND has to end after the SIGTERM for a lost
    /// lease, before SIGKILL (default 5s).
    #[cfg(feature = "etcd")]
    #[arg(
        long,
        value_name = "DURATION",
        requires = "etcd",
        value_parser = crate::duration::parse_timeout
    )]
    pub(crate) kill_after: Option<Duration>,

    /// The lock file, created if missing and never deleted (with --etcd, the
    /// lock's name on the cluster).
    pub(crate) path: PathBuf,

    /// The command to run and its arguments (`--` before it is optional).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required_unless_present = "shell_command",
        conflicts_with = "shell_command"
    )]
    pub(crate) command: Vec<OsString>,
}

fn parse_exit_code(text: &str) -> Result<u8, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("'{text}' is not an exit status: give a number from 0 to 255"))
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    pub(crate) json: bool,

    /// Look at the lock PATH names on the etcd cluster at ENDPOINTS
    /// (comma-separated URLs) instead of a lock file.
    #[cfg(feature = "etcd")]
    #[arg(long, value_name = "ENDPOINTS", env = "LOCKFILE_ETCD_ENDPOINTS")]
    pub(crate) etcd: Option<String>,

    /// The lock file (with --etcd, the lock's name on the cluster).
    pub(crate) path: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn run(args: &[&str]) -> super::RunArgs {
        let mut command_line = vec!["lockfile", "run"];
        command_line.extend(args);
        match Cli::try_parse_from(command_line).unwrap().command {
            Command::Run(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_starts_at_the_first_word_after_the_path() {
        let args = run(&["-v", "x.lock", "ls", "-l", "--", "-n"]);
        assert!(args.verbose && !args.no_wait);
        assert_eq!(args.command, ["ls", "-l", "--", "-n"]);
        let args = run(&["x.lock", "--", "-n"]);
        assert_eq!(args.command, ["-n"]);
        let args = run(&["x.lock", "-n", "-c", "echo hi"]);
        assert!(args.no_wait);
        assert_eq!(args.shell_command.as_deref(), Some("echo hi".as_ref()));
        let args = run(&["-nqE0", "x.lock", "true"]);
        assert!(args.no_wait && args.quiet);
        assert_eq!(args.conflict_exit_code, 0);
    }
}
