//! `lockfile flock`, and `lockfile` invoked as `flock`: util-linux flock(1)'s
//! interface and behaviour, exit codes and stdout included, for systems that
//! have no flock(1).
//!
//! It does not use the library's `LockFile`: it never writes into the file
//! (flock(1) users lock their own data files, and the bytes are theirs), it
//! follows symlinks and locks directories and devices, as flock(1) does.
//! What it adds goes to stderr only: with `--verbose`, a conflict names the
//! holder: the processes the kernel names (Linux), or else whoever the file
//! says (zc.lockfile's ` <pid>;<host>`); and a
//! FIFO is refused where flock(1) would hang.

mod args;
mod number;

use std::cell::{Cell, RefCell};
use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use args::{Options, Request, Usage};

use crate::describe;
use crate::escape::for_terminal;
use crate::report::strerror;
use crate::sys::{self, Ended, Fd, Kind, Locked, Opened, Refused, Wait};
use scoped_lockfile::Holder;

/// sysexits(3) codes, as flock(1) uses them.
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_NOINPUT: u8 = 66;
const EX_OSERR: u8 = 71;

/// util-linux's exit status when stdout or stderr could not be written.
const CLOSE_EXIT_CODE: u8 = 1;

/// Whether a program invoked by this name is flock(1) (`flock -> lockfile`).
pub(crate) fn is_flock_name(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new("flock"))
}

/// Runs flock(1) on `args` (after the program name), as `name` (`flock` or
/// `lockfile flock`, for messages); the exit status, unless it ran a command
/// in its place (`-F`).
pub(crate) fn main(args: &[OsString], name: &str) -> u8 {
    let flock = Flock {
        name,
        stdout: Stdout::new(),
        stderr_failed: Cell::new(false),
    };
    let code = flock.run(args);
    flock.finish(code)
}

struct Flock<'a> {
    name: &'a str,
    stdout: Stdout,
    /// A message could not be written to stderr: flock(1) then exits with 1.
    stderr_failed: Cell<bool>,
}

/// The lock's descriptor: a file we opened, or one we were given by number.
enum Target {
    File {
        path: OsString,
        opened: Opened,
        read_write: bool,
    },
    Number(i32, Fd<'static>),
}

impl Target {
    fn fd(&self) -> Fd<'_> {
        match self {
            Self::File { opened, .. } => sys::fd_of(&opened.file),
            Self::Number(_, fd) => *fd,
        }
    }

    /// How flock(1) names it in messages: the path as given, or the number.
    fn shown(&self) -> String {
        match self {
            Self::File { path, .. } => path.to_string_lossy().into_owned(),
            Self::Number(number, _) => number.to_string(),
        }
    }
}

impl Flock<'_> {
    fn run(&self, args: &[OsString]) -> u8 {
        if args.is_empty() {
            return self.usage(&Usage {
                message: Some("not enough arguments".to_owned()),
                try_help: true,
            });
        }
        let (options, operands) = match args::parse(args) {
            Ok(Request::Lock(options, operands)) => (options, operands),
            Ok(Request::Help) => {
                self.stdout.print(&help(self.name));
                return 0;
            }
            Ok(Request::Version) => {
                self.stdout.print(&format!(
                    "{} (scoped-lockfile-cli {}; util-linux flock(1) compatible)\n",
                    self.name,
                    env!("CARGO_PKG_VERSION")
                ));
                return 0;
            }
            Err(usage) => return self.usage(&usage),
        };
        if options.no_fork && options.close {
            return self.usage(&Usage {
                message: Some("the --no-fork and --close options are incompatible".to_owned()),
                try_help: true,
            });
        }
        let (target, command) = match self.target(&operands) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let Ok(wait) = wait(&options) else {
            return self.fail(&"cannot set up timer: Invalid argument", EX_OSERR);
        };
        if matches!(wait, Wait::Until(_)) {
            sys::catch_timer_signal();
        }
        let started = Instant::now();
        let target = match self.lock(target, &options, wait) {
            Ok(target) => target,
            Err(code) => return code,
        };
        if options.verbose {
            let took = started.elapsed();
            self.stdout.print(&format!(
                "flock: getting lock took {}.{:06} seconds\n",
                took.as_secs(),
                took.subsec_micros()
            ));
        }
        match command {
            Some(command) => self.run_command(&target, command, &options),
            None => 0,
        }
    }

    /// The file or descriptor to lock, and the command if there is one.
    fn target(&self, operands: &[OsString]) -> Result<(Target, Option<Command>), u8> {
        match operands {
            [] => Err(self.usage(&Usage {
                message: Some("requires file descriptor, file or directory".to_owned()),
                try_help: false,
            })),
            [number] => {
                let text = number.to_string_lossy();
                let number = match number::parse_c_int(&text) {
                    Ok(number) => number,
                    Err(why) => {
                        let range = match why {
                            number::NotANumber::Invalid => "",
                            number::NotANumber::OutOfRange => ": Numerical result out of range",
                        };
                        return Err(self.usage(&Usage {
                            message: Some(format!("bad file descriptor: '{text}'{range}")),
                            try_help: false,
                        }));
                    }
                };
                match sys::descriptor(number) {
                    Some(fd) => Ok((Target::Number(number, fd), None)),
                    // What flock(2) would say about it.
                    None => Err(self.fail(&format!("{number}: Bad file descriptor"), EX_DATAERR)),
                }
            }
            [path, rest @ ..] => {
                let command = if rest[0] == "-c" || rest[0] == "--command" {
                    let [_, script] = rest else {
                        return Err(self.usage(&Usage {
                            message: Some(format!(
                                "{} requires exactly one command argument",
                                rest[0].to_string_lossy()
                            )),
                            try_help: false,
                        }));
                    };
                    sys::shell_command(script)
                } else {
                    let mut command = Command::new(&rest[0]);
                    command.args(&rest[1..]);
                    command
                };
                let opened = self.open(path, false)?;
                let target = Target::File {
                    path: path.clone(),
                    opened,
                    read_write: false,
                };
                Ok((target, Some(command)))
            }
        }
    }

    fn open(&self, path: &OsStr, read_write: bool) -> Result<Opened, u8> {
        let shown = path.to_string_lossy();
        sys::open_like_flock(Path::new(path), read_write).map_err(|refused| match refused {
            Refused::Io(err) => self.fail(
                &format!("cannot open lock file {shown}: {}", strerror(&err)),
                sys::open_failure_status(&err),
            ),
            Refused::Fifo => self.fail(
                &format!(
                    "cannot open lock file {shown}: it is a FIFO; flock(1) would wait until \
                     something opens it for writing, this refuses it instead"
                ),
                EX_NOINPUT,
            ),
        })
    }

    /// Locks as the options say, reopening read-write where NFS refuses a
    /// lock on a read-only descriptor, as flock(1) does.
    fn lock(&self, mut target: Target, options: &Options, wait: Wait) -> Result<Target, u8> {
        loop {
            match sys::lock(target.fd(), options.kind, wait) {
                Ok(Locked::Yes) => return Ok(target),
                Ok(Locked::Busy) => {
                    if options.verbose {
                        self.say(&format!("failed to get lock{}", held_by(&target)));
                    }
                    return Err(options.conflict_exit_code);
                }
                Ok(Locked::TimedOut) => {
                    if options.verbose {
                        self.say(&format!(
                            "timeout while waiting to get lock{}",
                            held_by(&target)
                        ));
                    }
                    return Err(options.conflict_exit_code);
                }
                Err(err) => {
                    if let Target::File {
                        path,
                        read_write: false,
                        ..
                    } = &target
                        && sys::is_read_only_refusal(&err)
                        && options.kind != Kind::Shared
                        && sys::may_read_and_write(Path::new(path))
                    {
                        let path = path.clone();
                        let opened = self.open(&path, true)?;
                        target = Target::File {
                            path,
                            opened,
                            read_write: true,
                        };
                        continue;
                    }
                    return Err(self.fail(
                        &format!("{}: {}", target.shown(), strerror(&err)),
                        sys::lock_failure_status(&err),
                    ));
                }
            }
        }
    }

    fn run_command(&self, target: &Target, mut command: Command, options: &Options) -> u8 {
        let program = command.get_program().to_owned();
        if options.verbose {
            self.stdout
                .print(&format!("flock: executing {}\n", program.to_string_lossy()));
        }
        sys::start_as_flock_would(&mut command);
        // The command holds the lock too, unless -o: then it is closed for it.
        if let Err(err) = sys::set_inheritable(target.fd(), !options.close) {
            return self.fail(&strerror(&err), EX_OSERR);
        }
        if options.no_fork {
            // flock(1)'s stdout buffer is lost in its exec unless it went out
            // already, on a terminal: the same here.
            self.stdout.discard();
            let err = sys::exec(&mut command);
            return self.fail(
                &format!(
                    "failed to execute {}: {}",
                    program.to_string_lossy(),
                    strerror(&err)
                ),
                sys::exec_failure_status(&err),
            );
        }
        let status = command.spawn().and_then(|mut child| child.wait());
        match status.map(sys::ended) {
            Ok(Ended::Code(code)) => u8::try_from(code & 0xff).unwrap_or(u8::MAX),
            // flock(1) reports the signal; it does not die by it.
            Ok(Ended::Signal(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
            Err(err) => self.fail(
                &format!(
                    "failed to execute {}: {}",
                    program.to_string_lossy(),
                    strerror(&err)
                ),
                sys::exec_failure_status(&err),
            ),
        }
    }

    fn usage(&self, usage: &Usage) -> u8 {
        if let Some(message) = &usage.message {
            self.say(message);
        }
        if usage.try_help {
            self.write_stderr(&format!(
                "Try '{} --help' for more information.\n",
                self.name
            ));
        }
        EX_USAGE
    }

    /// What flock(1)'s exit handler (util-linux `close_stdout`) does to the
    /// exit status: stdout is flushed, and a write error is said and makes
    /// it 1 (a closed pipe kills us by SIGPIPE, unless that is ignored: then
    /// it is let be); a failed write to stderr makes it 1 too.
    fn finish(&self, code: u8) -> u8 {
        let mut code = code;
        match self.stdout.flush() {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::BrokenPipe => code = sys::broken_pipe(code),
            Err(err) => {
                self.say(&format!("write error: {}", strerror(&err)));
                code = CLOSE_EXIT_CODE;
            }
        }
        if self.stderr_failed.get() {
            code = CLOSE_EXIT_CODE;
        }
        code
    }

    fn write_stderr(&self, text: &str) {
        if std::io::stderr().lock().write_all(text.as_bytes()).is_err() {
            self.stderr_failed.set(true);
        }
    }

    fn fail(&self, message: &dyn Display, code: u8) -> u8 {
        self.say(message);
        code
    }

    fn say(&self, message: &dyn Display) {
        self.write_stderr(&format!(
            "{}: {}\n",
            self.name,
            for_terminal(&message.to_string())
        ));
    }
}

/// How long to wait: `-n`, or `-w` as flock(1) reads it (whole microseconds;
/// none at all is `-n`); `Err` for what its timer refuses (negative,
/// infinite), which it refuses even with `-n`, as flock(1) sets the timer up
/// first.
fn wait(options: &Options) -> Result<Wait, ()> {
    let Some(seconds) = options.timeout else {
        return Ok(if options.nonblock {
            Wait::Not
        } else {
            Wait::Forever
        });
    };
    let whole = seconds.trunc();
    let micros = ((seconds - whole) * 1e6).trunc();
    // NaN fails every comparison, so it lands here too.
    if !(whole >= 0.0 && micros >= 0.0 && whole < 9.2e18) {
        return Err(());
    }
    if options.nonblock || (whole == 0.0 && micros == 0.0) {
        return Ok(Wait::Not);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let timeout = Duration::from_secs(whole as u64) + Duration::from_micros(micros as u64);
    Ok(match Instant::now().checked_add(timeout) {
        Some(deadline) => Wait::Until(deadline),
        None => Wait::Forever,
    })
}

/// ": held by pid 42 on web-1" when the file says so, zc.lockfile-style;
/// where the kernel names the holders (a lock file given by path, on
/// Linux), they first: ": held by pid 20520 (flock); the file names pid
/// 20464, an earlier holder". Said once, on failure, so the whole view
/// (every process's descriptors) is worth its milliseconds.
fn held_by(target: &Target) -> String {
    if let Target::File { path, .. } = target
        && let Ok(scoped_lockfile::Probe::Held { holder }) = scoped_lockfile::probe(Path::new(path))
        && *holder.kernel != scoped_lockfile::KernelView::Unknown
    {
        return format!(": {}", describe::held(&holder, describe::Medium::File));
    }
    let fd = target.fd();
    if !sys::is_regular(fd) {
        return String::new();
    }
    // The first line, as the library reads a holder.
    let content = sys::read_start(fd).unwrap_or_default();
    let first = content.lines().next().unwrap_or_default().trim();
    match describe::named(&Holder::new(Some(first.to_owned()))) {
        Some(holder) => format!(": held by {holder}"),
        None => String::new(),
    }
}

/// flock(1)'s stdout: only `--verbose` lines (and help). Like its stdio, lines
/// go out at once to a terminal, and otherwise at exit, after the command's
/// own output; so the bytes are the same as flock(1)'s. The first write
/// error is kept for the exit, as stdio keeps it.
struct Stdout {
    terminal: bool,
    held: RefCell<String>,
    failed: RefCell<Option<std::io::Error>>,
}

impl Stdout {
    fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            held: RefCell::default(),
            failed: RefCell::default(),
        }
    }

    fn print(&self, text: &str) {
        if self.terminal {
            if let Err(err) = Self::write(text) {
                self.failed.borrow_mut().get_or_insert(err);
            }
        } else {
            self.held.borrow_mut().push_str(text);
        }
    }

    fn write(text: &str) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    }

    fn discard(&self) {
        self.held.borrow_mut().clear();
    }

    /// Writes what is held; the first error, now or before.
    fn flush(&self) -> std::io::Result<()> {
        if let Some(err) = self.failed.borrow_mut().take() {
            return Err(err);
        }
        let held = std::mem::take(&mut *self.held.borrow_mut());
        if held.is_empty() {
            return Ok(());
        }
        Self::write(&held)
    }
}

fn help(name: &str) -> String {
    format!(
        "\
Usage:
 {name} [options] <file>|<directory> <command> [<argument>...]
 {name} [options] <file>|<directory> -c <command>
 {name} [options] <file descriptor number>

Manage file locks from shell scripts: util-linux flock(1), as provided by
lockfile (scoped-lockfile-cli). Same options, exit codes and output; it never
writes into the file.

Options:
 -s, --shared             get a shared lock
 -x, --exclusive          get an exclusive lock (default)
 -u, --unlock             remove a lock
 -n, --nb, --nonblocking  fail rather than wait
 -w, --timeout <secs>     wait for a limited amount of time
     --wait <secs>        same as --timeout
 -E, --conflict-exit-code <number>  exit code after conflict or timeout
 -o, --close              close file descriptor before running command
 -c, --command <command>  run a single command string through the shell
 -F, --no-fork            execute command without forking
     --verbose            increase verbosity; a conflict names the holder
                          (the kernel's view on Linux, else the file's)

 -h, --help               display this help
 -V, --version            display version

Exit status: the command's, or 128+N if signal N ended it; 1 (or -E) on a
conflict or timeout; 64 bad usage, 65 flock(2) failed, 66 cannot open the file
(also: a FIFO, which flock(1) would wait on), 69 cannot run the command,
71 out of resources or a bad timeout, 73 read-only or full file system.

For more details see flock(1) and lockfile-cli/README.md.
"
    )
}
