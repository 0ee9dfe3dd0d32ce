//! `lockfile run`: the command runs while the lock is held, and holds it too.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use scoped_lockfile::{Holder, LockError, LockFile, LockOptions};

use crate::cli::RunArgs;
use crate::sys::{self, Ended, Fd, Kind, Locked, NotStarted, Wait};
use crate::{ERROR_EXIT, fail, holder};

/// Exit statuses for a command that could not be started, as shells use them.
const NOT_EXECUTABLE: u8 = 126;
const NOT_FOUND: u8 = 127;

/// The lock, however it was taken.
enum Held {
    /// By the library: the file says who holds it.
    Written(LockFile),
    /// Through a read-only descriptor, for a file we may not write.
    ReadOnly(File),
}

impl Held {
    fn fd(&self) -> Fd<'_> {
        match self {
            Self::Written(lock) => sys::fd_of(lock),
            Self::ReadOnly(file) => sys::fd_of(file),
        }
    }
}

pub(crate) fn run(args: &RunArgs) -> u8 {
    #[cfg(feature = "etcd")]
    if let Some(endpoints) = &args.etcd {
        return crate::etcd::run(args, endpoints);
    }
    let held = match take(args) {
        Ok(held) => held,
        Err(code) => return code,
    };
    let outcome = sys::supervise(command(args), (!args.close).then(|| held.fd()), None);
    // Released (our descriptor closed) before we exit or die; the command's
    // copy, if it left one to a process still running, keeps the lock.
    drop(held);
    exit_status(args, outcome)
}

/// Our exit status once the lock is released: the command's, or how it could
/// not be started. A command killed by a signal kills us the same way.
pub(crate) fn exit_status(args: &RunArgs, outcome: Result<Ended, NotStarted>) -> u8 {
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
            fail(&format!("cannot run {program}: {err}"), code)
        }
        Err(NotStarted::Setup(err)) => fail(&format!("running the command: {err}"), ERROR_EXIT),
    }
}

pub(crate) fn command(args: &RunArgs) -> Command {
    if let Some(line) = &args.shell_command {
        return sys::shell_command(line.as_ref());
    }
    let (program, arguments) = args.command.split_first().expect("clap requires COMMAND");
    let mut command = Command::new(program);
    command.args(arguments);
    command
}

/// Takes the lock as the options say, or reports why not and gives the exit status.
fn take(args: &RunArgs) -> Result<Held, u8> {
    let started = Instant::now();
    match take_with(args, &args.path, started, |options| {
        options.lock(&args.path)
    }) {
        Ok(lock) => Ok(Held::Written(lock)),
        Err(LockError::Io { source, .. }) if may_lock_read_only(&source) => {
            take_read_only(args, &source, wait_limit(args), started)
        }
        Err(err) => Err(refused(args, &err)),
    }
}

/// How long `-n`/`-w` say to wait; `None` is forever.
fn wait_limit(args: &RunArgs) -> Option<Duration> {
    if args.no_wait {
        Some(Duration::ZERO)
    } else {
        args.timeout
    }
}

/// Takes a lock named `name` through `attempt`, on any backend, with the
/// options `args` give: when `-v` is to say whom it waits for, one try first
/// (then the wait, for what is left of the timeout), and the time it took.
/// A timeout is reported with the timeout asked for, which the first try was
/// part of, and the whole time waited.
pub(crate) fn take_with<G>(
    args: &RunArgs,
    name: &Path,
    started: Instant,
    attempt: impl Fn(LockOptions) -> Result<G, LockError>,
) -> Result<G, LockError> {
    let wait = wait_limit(args);
    let mut options = LockOptions::new().content_template(&args.content_template);
    if args.shared {
        options = options.shared();
    }
    let waiting = |options: LockOptions| match wait {
        Some(timeout) => options.timeout(timeout.saturating_sub(started.elapsed())),
        None => options,
    };
    let say_whom = args.verbose && wait != Some(Duration::ZERO);
    let mut result = if say_whom {
        attempt(options.clone().timeout(Duration::ZERO))
    } else {
        attempt(waiting(options.clone()))
    };
    if let (true, Err(LockError::Contended { holder, .. })) = (say_whom, &result) {
        say_waiting(name, holder, wait);
        result = attempt(waiting(options));
    }
    match result {
        Ok(guard) => {
            if args.verbose {
                say_locked(name, started);
            }
            Ok(guard)
        }
        Err(LockError::Timeout {
            path,
            holder,
            timeout,
            ..
        }) => Err(LockError::Timeout {
            path,
            timeout: wait.unwrap_or(timeout),
            waited: started.elapsed(),
            holder,
        }),
        Err(err) => Err(err),
    }
}

/// The exit status for a lock not taken: the conflict code (quietly with -q)
/// when it is held, the error status otherwise.
pub(crate) fn refused(args: &RunArgs, err: &LockError) -> u8 {
    match err {
        LockError::Contended { .. } | LockError::Timeout { .. } => conflict(args, err),
        _ => fail(err, ERROR_EXIT),
    }
}

/// Not allowed to open the file for writing (another user's lock file, a
/// read-only file system): flock(1) would lock it through a read-only
/// descriptor, and so do we, without writing who holds it.
fn may_lock_read_only(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

fn take_read_only(
    args: &RunArgs,
    write_error: &io::Error,
    wait: Option<Duration>,
    started: Instant,
) -> Result<Held, u8> {
    let path = &args.path;
    let shown = path.display();
    let opened = match sys::open_read_only(path) {
        Ok(opened) if opened.regular => opened,
        // No file to fall back to (it could not be created): the first error says why.
        Ok(_) | Err(_) => return Err(fail(&format!("'{shown}': {write_error}"), ERROR_EXIT)),
    };
    if args.verbose {
        eprintln!(
            "lockfile: cannot open '{}' for writing ({write_error}); locking it through a \
             read-only descriptor: the file will not say who holds the lock",
            crate::escape::for_terminal(&shown.to_string())
        );
    }
    let fd = sys::fd_of(&opened.file);
    let how = match wait {
        Some(Duration::ZERO) => Wait::Not,
        None => Wait::Forever,
        Some(timeout) => started
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until),
    };
    let kind = if args.shared {
        Kind::Shared
    } else {
        Kind::Exclusive
    };
    let holder = || {
        let content = sys::read_start(fd).unwrap_or_default().trim().to_owned();
        Holder::new(Some(content).filter(|c| !c.is_empty()))
    };
    let mut locked = sys::lock(fd, kind, Wait::Not);
    if matches!(locked, Ok(Locked::Busy)) && !matches!(how, Wait::Not) {
        if args.verbose {
            say_waiting(path, &holder(), wait);
        }
        locked = sys::lock(fd, kind, how);
    }
    match locked {
        Ok(Locked::Yes) => {
            if args.verbose {
                say_locked(path, started);
            }
            Ok(Held::ReadOnly(opened.file))
        }
        Ok(Locked::Busy) => Err(conflict(
            args,
            &LockError::Contended {
                path: path.clone(),
                holder: holder(),
            },
        )),
        Ok(Locked::TimedOut) => Err(conflict(
            args,
            &LockError::Timeout {
                path: path.clone(),
                timeout: wait.unwrap_or_default(),
                waited: started.elapsed(),
                holder: holder(),
            },
        )),
        Err(err) => Err(fail(&format!("'{shown}': {err}"), ERROR_EXIT)),
    }
}

pub(crate) fn conflict(args: &RunArgs, err: &LockError) -> u8 {
    if args.quiet {
        args.conflict_exit_code
    } else {
        fail(err, args.conflict_exit_code)
    }
}

pub(crate) fn say_waiting(path: &Path, holder: &Holder, wait: Option<Duration>) {
    let whom = match (holder::describe(holder), &holder.content) {
        _ if holder.shared => "held shared".to_owned(),
        (Some(named), _) => format!("held by {named}"),
        (None, Some(content)) => format!("held by {content}"),
        (None, None) => "held; the file does not say by whom".to_owned(),
    };
    let how_long = match wait {
        Some(timeout) => format!(" for up to {}", humantime::format_duration(timeout)),
        None => String::new(),
    };
    crate::say(&format!(
        "waiting{how_long} for '{}', {whom}",
        path.display()
    ));
}

pub(crate) fn say_locked(path: &Path, started: Instant) {
    let waited =
        Duration::from_millis(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    crate::say(&format!(
        "locked '{}' after {}",
        path.display(),
        humantime::format_duration(waited)
    ));
}
