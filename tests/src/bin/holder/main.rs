//! A process that takes locks on command, for the cross-process tests.
//!
//! ```text
//! holder lock|context|file PATH [--wait MS|forever] [--template T] [--mode M]
//!        [--report-fds] [--async] [--signal-storm] [--shared] [--fair]
//!        [--cancel-after MS] [--linger] [--log FILE]
//! holder fork PATH drop|close         (Unix)
//! holder fork-after-wait PATH OTHER   (Unix)
//! holder zc PATH                      (Windows)
//! holder fork-waits|fork-probes|fork-waiters|fork-fair DIR N, fork-unpolled[-reuse] DIR _ (Linux)
//! holder rename-host DIR _, file-size-limit PATH LIMIT (Linux)
//! holder marks DIR ROUNDS
//! holder sets DIR ROUNDS NAME,NAME.. [--async]
//! holder count COUNTER ROUNDS
//! holder many DIR MAX
//! holder probe PATH
//! holder fair-marks DIR ROUNDS
//! holder fair-fork-wait PATH          (Unix)
//! holder relock PATH LOG MS [--fair]
//! holder readers PATH LOG COUNT [--fair]
//! ```
//!
//! - `lock`, `context`, `file`: prints `locked` once it holds the lock, holds it
//!   until its standard input reaches end of file, releases it and prints
//!   `released`. On failure it prints `error: <message>` (and, with
//!   `--report-fds`, `fds <before> <after>`: its open descriptors around the
//!   attempt) and exits with 3 (contended), 4 (timed out) or 1 (other).
//!   `--async` awaits the lock (`lock_async` and its siblings) on a tokio
//!   current-thread runtime. `--signal-storm` installs a `SIGUSR1` handler
//!   without `SA_RESTART` and sends that signal every millisecond to the waiting
//!   thread and the library's helper threads while it waits; once locked it
//!   prints `signals <sent> <handled>` after `locked` (Linux only).
//!   `--shared` takes a reader's lock, `--fair` a fair one. `--cancel-after
//!   MS` (with `--async`) drops the future after MS and prints `cancelled`.
//!   `--linger` keeps the process alive after a failure (timeout, cancel)
//!   until its standard input reaches end of file, so a test sees what the
//!   failure itself left behind, not the process's exit. `--log FILE`
//!   appends `waiting <pid>` to FILE before the attempt and `locked <pid>`
//!   once it holds the lock.
//! - `fork`: takes the lock with one try, prints `locked`, forks; the child
//!   drops or closes its copy of the lock and exits; the parent prints
//!   `child <exit code>` and then holds the lock as `lock` does.
//! - `zc`: takes zc.lockfile's lock the way it does on Windows (one try at
//!   byte 0 with `msvcrt.locking`, that is `LockFile`), writes `" <pid>\n"`,
//!   prints `locked`, holds it until its standard input reaches end of file,
//!   unlocks byte 0 and prints `released`; on failure prints `error: busy`
//!   and exits with 3.
//! - `fork-after-wait`: with PATH and OTHER held by others, times out once on
//!   PATH (leaving a helper blocked), starts an async wait with a 1 h timeout
//!   on PATH on another thread (the timer thread runs), then forks, as a
//!   daemon does. The child waits 300 ms for OTHER (printing `child other:
//!   timed out` when that wait times out) and then for PATH (`child locked`
//!   once it has it); the parent prints `child <exit code>`.
//! - `rename-host`, `file-size-limit`: see `system.rs` (Linux).
//! - `fork-waits`, `fork-probes`, `fork-waiters`, `fork-unpolled`,
//!   `fork-unpolled-reuse`, `fork-fair`: fork storms
//!   while other threads wait or probe; see `storms.rs`.
//! - `--chdir-deep BASE` (Linux, before the lock): changes into BASE and then
//!   into nested directories (created if missing) until the working directory's
//!   absolute path is longer than `PATH_MAX`, so only relative paths reach it.
//! - `marks`: calls a `#[locked]` function ROUNDS times, which appends an `enter`
//!   and, a moment later, a `leave` line with its pid to `DIR/marks`.
//! - `sets`: ROUNDS times, takes the lock set of the comma-separated NAMEs
//!   under DIR (`locked_set`, waiting forever; `locked_set_async` with
//!   `--async`) and appends `enter` and `leave` lines to `DIR/marks` under it.
//! - `count`: ROUNDS times, opens COUNTER with `LockedFile` in `r+` and adds one
//!   to the number in it.
//! - `fair-marks`: as `marks`, with a fair `#[locked]` fn.
//! - `fair-fork-wait`: waits for a fair lock on PATH (forever); 300 ms into
//!   the wait another thread forks a child that sleeps 120 s without exec
//!   and prints `child <pid>`; then holds the lock as `lock` does.
//! - `relock`: for MS milliseconds, takes the lock (waiting forever), appends
//!   `relock` to LOG, holds it 20 ms, releases it and takes it again at once.
//! - `readers`: COUNT threads, one every 25 ms, each taking a shared lock
//!   (waiting forever), appending `reader` to LOG and holding it 60 ms: a
//!   stream of overlapping readers.
//! - `many`: takes locks on `DIR/0.lock`, `DIR/1.lock`, ... until MAX or an error,
//!   and reports what it took, the error, whether every lock taken (but the last,
//!   released to have a descriptor to check with) is still held, and its open
//!   descriptors before and after releasing them all.
//! - `probe`: prints what `probe` says, on one line: `missing`, `free
//!   <view>` or `held <view>`, where the view is `unknown`, `unseen`,
//!   `free` or `holders` followed by `PID:COMMAND:taker|inherited` for each
//!   holder (`-` for a command not known); for the tests that run it in
//!   another pid namespace.

use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedContext, LockedFile};

#[cfg(unix)]
mod fork;
#[cfg(target_os = "linux")]
mod signals;
#[cfg(target_os = "linux")]
mod storms;
#[cfg(target_os = "linux")]
mod system;
#[cfg(windows)]
mod zc;

const USAGE: &str = "usage: holder lock|context|file PATH [--wait MS|forever] [--template T] \
                     [--mode M] [--report-fds] [--async] [--signal-storm] [--shared]\n       \
                     holder fork PATH drop|close\n       holder marks DIR ROUNDS\n       \
                     holder sets DIR ROUNDS NAME,NAME.. [--async]\n       holder count COUNTER ROUNDS\n       holder many DIR MAX";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, path, rest @ ..] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let number = || rest[0].parse::<usize>().expect("a number");
    match kind.as_str() {
        "marks" => (0..number()).for_each(|_| append_marks(Path::new(path))),
        "sets" => sets(Path::new(path), number(), &rest[1], rest.get(2)),
        "count" => (0..number()).for_each(|_| increment(Path::new(path))),
        "many" => many(Path::new(path), number()),
        "probe" => say(&probe_line(Path::new(path))),
        "fair-marks" => (0..number()).for_each(|_| append_fair_marks(Path::new(path))),
        "relock" | "readers" => {
            let fair = rest.get(2).is_some_and(|flag| flag == "--fair");
            let count = rest[1].parse().expect("a number");
            if kind == "relock" {
                relock(Path::new(path), Path::new(&rest[0]), count, fair);
            } else {
                readers(Path::new(path), Path::new(&rest[0]), count, fair);
            }
        }
        #[cfg(unix)]
        "fork" => return fork_and_hold(Path::new(path), &rest[0]),
        #[cfg(windows)]
        "zc" => return zc::hold(Path::new(path)),
        #[cfg(unix)]
        "fair-fork-wait" => return fair_fork_wait(Path::new(path)),
        #[cfg(unix)]
        "fork-after-wait" => return fork_after_waiting(Path::new(path), Path::new(&rest[0])),
        #[cfg(target_os = "linux")]
        "fork-waits" => storms::fork_waits(Path::new(path), number()),
        #[cfg(target_os = "linux")]
        "fork-probes" => storms::fork_probes(Path::new(path), number()),
        #[cfg(target_os = "linux")]
        "fork-waiters" => storms::fork_waiters(Path::new(path), number()),
        #[cfg(target_os = "linux")]
        "fork-unpolled" => storms::fork_unpolled(Path::new(path)),
        #[cfg(target_os = "linux")]
        "fork-unpolled-reuse" => storms::fork_unpolled_reuse(Path::new(path)),
        #[cfg(target_os = "linux")]
        "fork-pending-async" => {
            storms::fork_pending_async(
                Path::new(path),
                rest.first().is_some_and(|f| f == "--fair"),
            );
        }
        #[cfg(target_os = "linux")]
        "fork-async-parent-exits" => storms::fork_async_parent_exits(Path::new(path)),
        #[cfg(target_os = "linux")]
        "fork-fair-guard" => storms::fork_fair_guard(Path::new(path)),
        #[cfg(target_os = "linux")]
        "fork-fair-takes" => {
            storms::fork_fair_takes(Path::new(path), rest[0].parse().expect("SECONDS"));
        }
        #[cfg(target_os = "linux")]
        "fork-fair" => storms::fork_fair(Path::new(path), number()),
        #[cfg(target_os = "linux")]
        "rename-host" => system::rename_host(Path::new(path)),
        #[cfg(target_os = "linux")]
        "file-size-limit" => {
            system::file_size_limit(Path::new(path), rest[0].parse().expect("LIMIT"));
        }
        _ => return hold(kind, path, rest),
    }
    ExitCode::SUCCESS
}

fn hold(kind: &str, path: &str, flags: &[String]) -> ExitCode {
    let mut options = LockOptions::new().timeout(Duration::ZERO);
    let mut mode = "r+".to_owned();
    let mut report_fds = false;
    let mut is_async = false;
    let mut cancel_after = None;
    let mut linger = false;
    let mut log = None;
    #[cfg(target_os = "linux")]
    let mut storm = None;
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let mut value = || flags.next().expect("a value after the flag");
        match flag.as_str() {
            "--wait" => {
                options = match value().as_str() {
                    "forever" => options.wait_forever(),
                    ms => options.timeout(Duration::from_millis(ms.parse().expect("--wait MS"))),
                };
            }
            "--template" => options = options.content_template(value()),
            "--mode" => mode.clone_from(value()),
            "--report-fds" => report_fds = true,
            "--async" => is_async = true,
            "--shared" => options = options.shared(),
            "--chdir-deep" => chdir_deep(Path::new(value())),
            "--fair" => options = options.fair(),
            "--linger" => linger = true,
            "--log" => log = Some(value().clone()),
            "--cancel-after" => {
                cancel_after = Some(Duration::from_millis(value().parse().expect("MS")));
            }
            #[cfg(target_os = "linux")]
            "--signal-storm" => {
                signals::install_interrupting_handler();
                storm = Some(signals::start_storm());
            }
            other => panic!("unknown flag {other}\n{USAGE}"),
        }
    }
    let before = open_fds();
    if let Some(log) = &log {
        append(Path::new(log), "waiting");
    }
    let held = if is_async {
        let held = take_async(kind, path, &options, &mode, cancel_after);
        if held.is_none() {
            say("cancelled");
            return lingering(linger, ExitCode::from(5));
        }
        held.expect("not cancelled")
    } else {
        take(kind, path, &options, &mode)
    };
    #[cfg(target_os = "linux")]
    let signals = storm.map(signals::Storm::stop);
    #[cfg(not(target_os = "linux"))]
    let signals: Option<(usize, usize)> = None;
    let held = match held {
        Ok(held) => held,
        Err(err) => {
            println!("error: {err}");
            if report_fds {
                println!("fds {before} {}", open_fds());
            }
            let code = ExitCode::from(match err {
                LockError::Contended { .. } => 3,
                LockError::Timeout { .. } => 4,
                _ => 1,
            });
            return lingering(linger, code);
        }
    };
    if let Some(log) = &log {
        append(Path::new(log), "locked");
    }
    say("locked");
    if let Some((sent, handled)) = signals {
        say(&format!("signals {sent} {handled}"));
    }
    hold_until_stdin_closes(held)
}

/// Nested directories of 200-byte names, entered one at a time (a single
/// `chdir` of the whole path would fail), until the absolute path exceeds 4096.
fn chdir_deep(base: &Path) {
    std::env::set_current_dir(base).expect("chdir BASE");
    let name = "d".repeat(200);
    for _ in 0..24 {
        match std::fs::create_dir(&name) {
            Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => panic!("mkdir: {err}"),
            _ => {}
        }
        std::env::set_current_dir(&name).expect("chdir");
    }
}

fn hold_until_stdin_closes(held: Held) -> ExitCode {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    held.close().expect("release");
    say("released");
    ExitCode::SUCCESS
}

fn take(kind: &str, path: &str, options: &LockOptions, mode: &str) -> Result<Held, LockError> {
    match kind {
        "lock" => options.lock(path).map(Held::Lock),
        "context" => options.locked_context(path).map(Held::Context),
        "file" => options.locked_file(path, mode).map(Held::File),
        other => panic!("unknown kind {other}\n{USAGE}"),
    }
}

/// The lock, or `None` if `cancel_after` passed first and the future was
/// dropped.
fn take_async(
    kind: &str,
    path: &str,
    options: &LockOptions,
    mode: &str,
    cancel_after: Option<Duration>,
) -> Option<Result<Held, LockError>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let taking = async {
            match kind {
                "lock" => options.lock_async(path).await.map(Held::Lock),
                "context" => options.locked_context_async(path).await.map(Held::Context),
                "file" => options.locked_file_async(path, mode).await.map(Held::File),
                other => panic!("unknown kind {other}\n{USAGE}"),
            }
        };
        match cancel_after {
            Some(after) => tokio::time::timeout(after, taking).await.ok(),
            None => Some(taking.await),
        }
    })
}

/// With `--linger`, waits for end of input before exiting with `code`.
fn lingering(linger: bool, code: ExitCode) -> ExitCode {
    if linger {
        say("lingering");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    code
}

/// Appends `what <pid>` as one write, so lines of several processes do not mix.
fn append(log: &Path, what: &str) {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .expect("open the log");
    file.write_all(format!("{what} {}\n", std::process::id()).as_bytes())
        .expect("append to the log");
}

fn relock(path: &Path, log: &Path, millis: u64, fair: bool) {
    let options = if fair {
        LockOptions::new().fair()
    } else {
        LockOptions::new()
    };
    let until = std::time::Instant::now() + Duration::from_millis(millis);
    say("started");
    while std::time::Instant::now() < until {
        let lock = options.lock(path).expect("relock");
        append(log, "relock");
        // Held long enough that a newcomer descheduled between logging
        // `waiting` and queueing (a loaded machine) rarely misses more than
        // one turn; barging happens between the drop and the next take.
        std::thread::sleep(Duration::from_millis(20));
        drop(lock);
    }
}

fn readers(path: &Path, log: &Path, count: u64, fair: bool) {
    let options = if fair {
        LockOptions::new().shared().fair()
    } else {
        LockOptions::new().shared()
    };
    say("started");
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (options, path, log) = (options.clone(), path.to_owned(), log.to_owned());
            let thread = std::thread::spawn(move || {
                let lock = options.lock(&path).expect("a reader's lock");
                append(&log, "reader");
                std::thread::sleep(Duration::from_millis(60));
                drop(lock);
            });
            std::thread::sleep(Duration::from_millis(25));
            thread
        })
        .collect();
    for thread in threads {
        thread.join().expect("a reader");
    }
}

/// Leaves the state a timed and an async wait leave behind, then forks: the
/// child's own waits must be served by helpers and a timer of its own.
#[cfg(unix)]
fn fork_after_waiting(path: &Path, other: &Path) -> ExitCode {
    let short = LockOptions::new().timeout(Duration::from_millis(50));
    let err = short
        .lock(path)
        .expect_err("PATH must be held by another process");
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
    let hour = LockOptions::new().timeout(Duration::from_secs(3600));
    let pending = hour.lock_async(path.to_path_buf());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        drop(runtime.block_on(pending));
    });
    std::thread::sleep(Duration::from_millis(50));
    match fork::fork() {
        fork::Side::Child => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            let waited = runtime.block_on(
                LockOptions::new()
                    .timeout(Duration::from_millis(300))
                    .lock_async(other),
            );
            match waited {
                Err(LockError::Timeout { .. }) => say("child other: timed out"),
                other => say(&format!("child other: {other:?}")),
            }
            match LockOptions::new()
                .timeout(Duration::from_secs(60))
                .lock(path)
            {
                Ok(_lock) => say("child locked"),
                Err(err) => say(&format!("child error: {err}")),
            }
            fork::exit_child(0)
        }
        fork::Side::Parent(child) => {
            say(&format!("child {}", fork::wait(child)));
            ExitCode::SUCCESS
        }
    }
}

/// Waits fairly for `path` while another thread forks a child that lives on
/// without exec, as a daemon's would.
#[cfg(unix)]
fn fair_fork_wait(path: &Path) -> ExitCode {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        match fork::fork() {
            fork::Side::Child => {
                std::thread::sleep(Duration::from_secs(120));
                fork::exit_child(0)
            }
            fork::Side::Parent(child) => say(&format!("child {child}")),
        }
    });
    match LockOptions::new().fair().lock(path) {
        Ok(lock) => {
            say("locked");
            hold_until_stdin_closes(Held::Lock(lock))
        }
        Err(err) => {
            say(&format!("error: {err}"));
            ExitCode::from(1)
        }
    }
}

/// Takes the lock, forks, lets the child drop or close its copy, then holds
/// the lock: it must still be held although the child let go of its copy.
#[cfg(unix)]
fn fork_and_hold(path: &Path, how: &str) -> ExitCode {
    let lock = LockFile::new(path).expect("lock");
    say("locked");
    match fork::fork() {
        fork::Side::Child => {
            match how {
                "drop" => drop(lock),
                "close" => lock.close().expect("close in the child"),
                other => panic!("unknown way to let go: {other}\n{USAGE}"),
            }
            fork::exit_child(0)
        }
        fork::Side::Parent(child) => {
            say(&format!("child {}", fork::wait(child)));
            hold_until_stdin_closes(Held::Lock(lock))
        }
    }
}

#[scoped_lockfile::locked(dir.join("marks"))]
fn append_marks(dir: &Path) {
    write_marks(dir);
}

#[scoped_lockfile::locked(dir.join("marks"), fair)]
fn append_fair_marks(dir: &Path) {
    write_marks(dir);
}

/// Appends `enter PID`, then a moment later `leave PID`, to `DIR/marks`.
fn write_marks(dir: &Path) {
    let mut marks = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("marks"))
        .expect("open marks");
    // One write a line: a process killed mid-line leaves no torn line.
    let pid = std::process::id();
    marks
        .write_all(format!("enter {pid}\n").as_bytes())
        .expect("write");
    std::thread::sleep(Duration::from_millis(2));
    marks
        .write_all(format!("leave {pid}\n").as_bytes())
        .expect("write");
}

fn sets(dir: &Path, rounds: usize, names: &str, flag: Option<&String>) {
    let names: Vec<_> = names.split(',').map(|name| dir.join(name)).collect();
    let options = LockOptions::new();
    let is_async = flag.is_some_and(|flag| flag == "--async");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for _ in 0..rounds {
        let set = if is_async {
            runtime.block_on(options.locked_set_async(&names))
        } else {
            options.locked_set(&names)
        }
        .expect("take the set");
        append_marks(dir);
        drop(set);
    }
}

fn increment(counter: &Path) {
    let mut file = LockedFile::open(counter, "r+").expect("lock and open the counter");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read");
    let next = text.trim().parse::<u64>().expect("a number") + 1;
    file.rewind().expect("rewind");
    file.get_mut().set_len(0).expect("truncate");
    write!(file, "{next}").expect("write");
    file.close().expect("close");
}

fn many(dir: &Path, max: usize) {
    let before = open_fds();
    let mut held = Vec::new();
    let mut error = None;
    for i in 0..max {
        match LockFile::new(dir.join(format!("{i}.lock"))) {
            Ok(lock) => held.push(lock),
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    println!("took {}", held.len());
    match &error {
        Some(LockError::Io { path, source }) => {
            println!(
                "error {} {:?} {}",
                path.display(),
                source.raw_os_error(),
                source
            );
        }
        Some(other) => println!("error other {other}"),
        None => println!("error none"),
    }
    // Each lock taken is still ours: a second open of its file is refused. The
    // check needs a descriptor, so the last lock is given back first.
    held.pop();
    let still_held = held
        .iter()
        .filter(|lock| matches!(LockFile::new(lock.path()), Err(LockError::Contended { .. })))
        .count();
    println!("still held {still_held} of {}", held.len());
    drop(held);
    println!("fds {before} {}", open_fds());
}

fn probe_line(path: &Path) -> String {
    use scoped_lockfile::{KernelView, Probe};
    let probed = scoped_lockfile::probe(path).expect("probe");
    let Some(holder) = probed.holder() else {
        return "missing".into();
    };
    let state = if matches!(probed, Probe::Held { .. }) {
        "held"
    } else {
        "free"
    };
    let view = match &*holder.kernel {
        KernelView::Unknown => "unknown".to_owned(),
        KernelView::Unseen => "unseen".to_owned(),
        KernelView::Free { .. } => "free".to_owned(),
        view => {
            let holders = view.holders().map(|(lock, process)| {
                let how = if lock.inherited(process) {
                    "inherited"
                } else {
                    "taker"
                };
                let command = process.command.as_deref().unwrap_or("-");
                format!(" {}:{command}:{how}", process.pid)
            });
            format!("holders{}", holders.collect::<String>())
        }
    };
    format!("{state} {view}")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

enum Held {
    Lock(LockFile),
    Context(LockedContext),
    File(LockedFile),
}

impl Held {
    fn close(self) -> Result<(), LockError> {
        match self {
            Self::Lock(lock) => lock.close(),
            Self::Context(context) => context.close(),
            Self::File(file) => file.close(),
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}
