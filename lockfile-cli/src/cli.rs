//! The parse stage: the command line, as clap sees it (`lockfile flock` is
//! read by `crate::flock`, the way flock(1) reads its own).

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

/// Whether this build has the etcd backend: without it, `--etcd` and its
/// options are hidden from `--help`, and refused with how to get it.
const ETCD: bool = cfg!(feature = "etcd");

macro_rules! examples {
    () => {
        "\
Examples:
  lockfile run deploy.lock ./deploy.sh               wait for the lock, then deploy
  lockfile run -w 5 build.lock -- make               give up after 5 seconds
  lockfile run -n -q cron.lock ./nightly.sh          skip the run, silently, if one is going
  lockfile status deploy.lock                        who holds it? (exit 0 free, 1 held)
  lockfile flock -n /var/lock/x.lock -c 'job'        util-linux flock(1), anywhere"
    };
}

const EXAMPLES: &str = if ETCD {
    concat!(
        examples!(),
        "\n  lockfile run --etcd http://etcd-1:2379 migrations -- ./migrate",
        "\n                                                     the same lock on every host, on etcd"
    )
} else {
    examples!()
};

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

macro_rules! run_help {
    () => {
        "\
Options may come before or after PATH. COMMAND starts at the first word after
PATH that is not one of the options above (or after `--`); from there on every
word is COMMAND's, options included: `lockfile run x.lock -n echo hi` runs
`echo hi` without waiting, `lockfile run x.lock echo -n hi` runs `echo -n hi`.

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
this user cannot write (another user's, 0644) is locked read-only and left as
it is: it then does not name the holder.

Signals: COMMAND runs in a process group of its own and, if lockfile is a job
of an interactive shell, gets the terminal (Ctrl-C, Ctrl-Z and reading the
terminal work as usual; when COMMAND stops, lockfile stops too, so the shell
sees the job stopped). Signals sent to lockfile or its group (HUP, INT, QUIT,
TERM, USR1, USR2, ALRM, WINCH, TSTP, CONT) are passed on to COMMAND's group,
once; a signal ignored when lockfile started stays ignored, for COMMAND too.
Inside a script or a pipeline run from a terminal, COMMAND stays in the
script's group, as with flock(1), so Ctrl-C stops the whole script. Under
systemd use KillMode=mixed: KillMode=control-group signals every process
itself, so COMMAND would get a signal twice.

Exit status: COMMAND's own; if a signal killed COMMAND, lockfile dies by the
same signal (a shell shows 128+N); the conflict exit code (-E, default 1) if
the lock is held with -n or the timeout passes; 126 or 127 if COMMAND could not
be started; 2 for bad usage or any other error before COMMAND ran."
    };
}

macro_rules! run_help_etcd {
    () => {
        "

On etcd (--etcd ENDPOINTS, or --etcd alone with LOCKFILE_ETCD_ENDPOINTS set; the
variable alone never chooses etcd): PATH is the lock's name on the cluster (its
keys are NAME/<lease>, as etcdctl lock's), held while lockfile renews its lease
(--ttl, default 10s). COMMAND gets the lock's fencing token in
LOCKFILE_FENCING_TOKEN. COMMAND is dead before the lease can expire: if the
lease goes unrenewed (lockfile cut off from the cluster), COMMAND's group gets
SIGTERM, and SIGKILL --kill-after later (default and most: a sixth and a third
of the TTL), at the latest a sixth of the TTL before the server may expire the
lease; lockfile then exits with 75. If lockfile dies, even by SIGKILL,
COMMAND's whole group is killed with it; processes COMMAND leaves behind are
killed when it ends. -o and -s do not apply."
    };
}

macro_rules! run_examples {
    () => {
        "

Examples:
  lockfile run deploy.lock ./deploy.sh --prod
  lockfile run -w '1m 30s' build.lock -c 'make && make install'
  lockfile run -n -q -E 0 cron.lock -- ./nightly.sh    (in a crontab)"
    };
}

const RUN_HELP: &str = if ETCD {
    concat!(
        run_help!(),
        run_help_etcd!(),
        run_examples!(),
        "\n  lockfile run --etcd http://10.0.0.1:2379,http://10.0.0.2:2379 -n nightly -- ./nightly.sh"
    )
} else {
    concat!(run_help!(), run_examples!())
};

macro_rules! status_help {
    () => {
        "\
Exit status: 0 if the lock is free (or the file does not exist), 1 if it is
held (\"held shared\" when readers hold it), 2 on error (a directory of PATH
that does not exist is one). Checking never creates or changes the file.

On Linux the kernel names the real holders, without taking the lock: every
process with a descriptor of the locking open file, with its command and
whether it inherited the lock (\"held by pid 3121 (nightly-daemon), which
inherited it from pid 3100 (gone)\"); a pid in the file that is not one of
them is an earlier holder's, or a reused pid. Elsewhere, when the file reads
`<pid>;<hostname>` (or zc.lockfile's `<pid>`) and the hostname is this
host's, the status says whether that process is still running; a lock held
while its recorded process is gone is held by a process that inherited it
(the command of a `lockfile run` that was killed). Anything else in the file
is quoted, not taken for a holder. Control characters are shown escaped
(\\x1b).

--json prints one object, the same fields for every backend: name, backend,
state (\"missing\", \"free\", \"held\", \"held shared\"), content, pid,
hostname, this_host, pid_alive, pid_holds (whether the file's pid is among
the kernel's holders), kernel (\"held\", \"free\", \"unseen\": held by a
process not visible from here, or \"unknown\"), holders (each with pid,
command, inherited, taken_by), fencing_token, waiting (null where they do
not apply)."
    };
}

const STATUS_HELP: &str = if ETCD {
    concat!(
        status_help!(),
        "

With --etcd, PATH is a lock's name on the cluster; the status names its
holder, its fencing token and how many wait.

Examples:
  lockfile status deploy.lock
  lockfile status --json deploy.lock
  lockfile status --etcd http://127.0.0.1:2379 migrations"
    )
} else {
    concat!(
        status_help!(),
        "

Examples:
  lockfile status deploy.lock
  lockfile status --json deploy.lock"
    )
};

/// How `--etcd` was given: absent, or with its endpoints (empty when given
/// alone, to be taken from `LOCKFILE_ETCD_ENDPOINTS`).
#[derive(Debug, Args)]
#[allow(clippy::doc_markdown)] // clap shows these comments as they are
pub(crate) struct EtcdArgs {
    /// Take the lock PATH names on the etcd cluster at ENDPOINTS
    /// (comma-separated URLs) instead of a lock file; alone, the endpoints
    /// come from LOCKFILE_ETCD_ENDPOINTS.
    #[arg(
        long,
        value_name = "ENDPOINTS",
        num_args = 0..=1,
        default_missing_value = "",
        hide = !ETCD
    )]
    pub(crate) etcd: Option<String>,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // one per flag, as clap reads them
pub(crate) struct RunArgs {
    /// Do not wait: fail at once if the lock is held (same as --timeout 0;
    /// wins over --timeout, as with flock(1)).
    #[arg(
        short = 'n',
        long = "no-wait",
        visible_alias = "nonblock",
        aliases = ["nonblocking", "nb"]
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

    /// First come, first served: queue with the other fair waiters of PATH
    /// (lockfile run --fair, the library's fair locks) in PATH.queue,
    /// and get the lock in the order they started waiting; a reader does not
    /// overtake a writer queued before it. Others (flock(1), lockfile without
    /// --fair) still exclude and are excluded, but are not queued. Linux only;
    /// etcd grants in request order anyway.
    #[arg(long)]
    pub(crate) fair: bool,

    /// Nothing on stderr when the lock is held (-n) or the timeout passes.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Say on stderr that lockfile waits, and for whom.
    #[arg(short, long)]
    pub(crate) verbose: bool,

    /// Do not let COMMAND inherit the lock's descriptor: the lock is then
    /// released when lockfile ends, even if COMMAND lives on.
    #[arg(short = 'o', long, conflicts_with = "etcd")]
    pub(crate) close: bool,

    /// Run this command line through the shell ($SHELL, else /bin/sh), as
    /// flock(1) -c does, instead of COMMAND.
    #[arg(short = 'c', long = "command", value_name = "COMMAND_LINE")]
    pub(crate) shell_command: Option<OsString>,

    /// What the lock file says while held: {pid}, {hostname}, literal text, and
    /// {{ or }} for braces.
    #[arg(long, value_name = "TEMPLATE", default_value = "{pid};{hostname}")]
    pub(crate) content_template: String,

    #[command(flatten)]
    pub(crate) backend: EtcdArgs,

    /// With --etcd: the lease's time to live, how long the lock outlives a
    /// lockfile cut off or stopped (default 10s; whole seconds, rounded up).
    #[arg(
        long,
        value_name = "DURATION",
        requires = "etcd",
        hide = !ETCD,
        value_parser = crate::duration::parse_timeout
    )]
    pub(crate) ttl: Option<Duration>,

    /// With --etcd: how long COMMAND has to end after the SIGTERM for a lease
    /// that could not be renewed, before SIGKILL (default a sixth of the TTL,
    /// at most a third, so that COMMAND is dead before the lease can expire).
    #[arg(
        long,
        value_name = "DURATION",
        requires = "etcd",
        hide = !ETCD,
        value_parser = crate::duration::parse_timeout
    )]
    pub(crate) kill_after: Option<Duration>,

    #[arg(help = RUN_PATH)]
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

const RUN_PATH: &str = if ETCD {
    "The lock file, created if missing and never deleted (with --etcd, the lock's name on the cluster)"
} else {
    "The lock file, created if missing and never deleted"
};

const STATUS_PATH: &str = if ETCD {
    "The lock file (with --etcd, the lock's name on the cluster)"
} else {
    "The lock file"
};

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

    #[command(flatten)]
    pub(crate) backend: EtcdArgs,

    #[arg(help = STATUS_PATH)]
    pub(crate) path: PathBuf,
}

/// Parses `args` (the program name first). `--etcd` takes its endpoints only
/// when they look like endpoints: `lockfile run --etcd migrations ./migrate`
/// is `--etcd` alone (endpoints from the environment) and the lock
/// `migrations`, not the endpoints `migrations`.
pub(crate) fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let first = Cli::try_parse_from(args);
    let Some(at) = args
        .windows(2)
        .position(|pair| pair[0] == "--etcd" && !looks_like_endpoints(&pair[1]))
    else {
        return first;
    };
    let taken = args[at + 1].to_string_lossy();
    let took_the_name = match &first {
        Ok(cli) => cli.etcd_value() == Some(taken.as_ref()),
        Err(_) => true,
    };
    if !took_the_name {
        return first;
    }
    let mut alone = args.to_vec();
    alone[at] = OsString::from("--etcd=");
    match Cli::try_parse_from(&alone) {
        Ok(cli) => Ok(cli),
        Err(_) => first,
    }
}

impl Cli {
    fn etcd_value(&self) -> Option<&str> {
        match &self.command {
            Command::Run(args) => args.backend.etcd.as_deref(),
            Command::Status(args) => args.backend.etcd.as_deref(),
            Command::Flock { .. } => None,
        }
    }
}

/// Whether `word` reads as etcd endpoints: comma-separated URLs
/// (`http://host:2379`) or `host:port`, never an option.
fn looks_like_endpoints(word: &std::ffi::OsStr) -> bool {
    let Some(word) = word.to_str() else {
        return false;
    };
    let endpoint = |item: &str| {
        item.contains("://")
            || item
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    };
    word.starts_with('-')
        || word
            .split(',')
            .filter(|item| !item.trim().is_empty())
            .all(|item| endpoint(item.trim()))
            && !word.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::CommandFactory;

    use super::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        super::parse(&args).unwrap()
    }

    fn run(args: &[&str]) -> super::RunArgs {
        let mut command_line = vec!["lockfile", "run"];
        command_line.extend(args);
        match parse(&command_line).command {
            Command::Run(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_starts_at_the_first_word_after_the_path_that_is_not_ours() {
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
        // What the README and --help say.
        let args = run(&["demo.lock", "-n", "echo", "hi"]);
        assert!(args.no_wait);
        assert_eq!(args.command, ["echo", "hi"]);
        let args = run(&["demo.lock", "echo", "-n", "hi"]);
        assert!(!args.no_wait);
        assert_eq!(args.command, ["echo", "-n", "hi"]);
    }

    #[test]
    fn etcd_takes_endpoints_only_when_they_look_like_endpoints() {
        let args = run(&["--etcd", "http://a:2379,http://b:2379", "jobs", "true"]);
        assert_eq!(
            args.backend.etcd.as_deref(),
            Some("http://a:2379,http://b:2379")
        );
        assert_eq!(args.path.to_str(), Some("jobs"));
        let args = run(&["--etcd", "127.0.0.1:2379", "jobs", "true"]);
        assert_eq!(args.backend.etcd.as_deref(), Some("127.0.0.1:2379"));
        let args = run(&["--etcd", "migrations", "./migrate"]);
        assert_eq!(args.backend.etcd.as_deref(), Some(""));
        assert_eq!(args.path.to_str(), Some("migrations"));
        assert_eq!(args.command, ["./migrate"]);
        let args = run(&["--etcd", "-n", "jobs", "true"]);
        assert_eq!(args.backend.etcd.as_deref(), Some(""));
        assert!(args.no_wait);
        // The command's own --etcd is the command's.
        let args = run(&["x.lock", "tool", "--etcd", "name"]);
        assert_eq!(args.backend.etcd, None);
        assert_eq!(args.command, ["tool", "--etcd", "name"]);
        let Command::Status(status) = parse(&["lockfile", "status", "--etcd", "jobs"]).command
        else {
            panic!()
        };
        assert_eq!(status.backend.etcd.as_deref(), Some(""));
        assert_eq!(status.path.to_str(), Some("jobs"));
    }
}
