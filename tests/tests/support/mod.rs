//! Driving the `holder` helper process from tests.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Generous: these bound a hang, they do not measure speed.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The helper binary, built by cargo for this package's tests.
pub fn holder_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_holder"));
    command.args(args);
    command
}

/// A running `holder` process, whose output lines arrive on a channel.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Holder {
    /// Starts `holder ARGS` without waiting for it to lock.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_command(holder_command(args))
    }

    /// Starts `holder ARGS` in the working directory `cwd`.
    pub fn spawn_in(cwd: &Path, args: &[&str]) -> Self {
        let mut command = holder_command(args);
        command.current_dir(cwd);
        Self::spawn_command(command)
    }

    fn spawn_command(mut command: Command) -> Self {
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut spawned = command.spawn();
        // Wine 8's CreateProcess now and then fails with ERROR_INTERNAL_ERROR
        // while processes come and go fast; that is not what is tested here.
        for _ in 0..3 {
            match &spawned {
                Err(err) if cfg!(windows) && err.raw_os_error() == Some(1359) => {
                    eprintln!("NOTICE: spawning the holder again after: {err}");
                    std::thread::sleep(Duration::from_millis(50));
                    spawned = command.spawn();
                }
                _ => break,
            }
        }
        let mut child = spawned.expect("spawn holder");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// Starts `holder ARGS` and waits until it holds the lock.
    pub fn locked(args: &[&str]) -> Self {
        let mut holder = Self::spawn(args);
        holder.expect_line("locked");
        holder
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints, or `None` if none comes within `wait`.
    pub fn next_line(&mut self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    pub fn expect_line(&mut self, expected: &str) {
        let line = self.next_line(PATIENCE);
        assert_eq!(line.as_deref(), Some(expected), "holder {}", self.pid());
    }

    /// Tells it to release, and waits until it has.
    pub fn release(mut self) {
        drop(self.stdin.take());
        self.expect_line("released");
        assert!(self.child.wait().unwrap().success());
    }

    /// SIGKILLs it mid-hold and reaps it.
    pub fn kill(mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }

    /// Waits for it to exit (after an error, say).
    pub fn wait(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

/// One try by another process: takes and releases at once, or reports why not.
pub fn try_lock_elsewhere(path: &Path) -> Output {
    holder_command(&["lock", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Whether util-linux `flock(1)` is here; `.ci/run` installs it.
pub fn have_flock() -> bool {
    let found = Command::new("flock").arg("--version").output().is_ok();
    if !found {
        skip("util-linux flock(1) is not installed");
    }
    found
}

/// `flock -n [-s|-x] PATH true` (util-linux): 0 if it got the lock, 1 if not.
pub fn flock_n(path: &Path, how: &str) -> i32 {
    Command::new("flock")
        .args(["-n", how])
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .code()
        .unwrap()
}

/// Python holding zc.lockfile's `LockFile(PATH, **kwargs)` until its stdin
/// closes, once it has it.
pub fn zc_holding(python: &Path, path: &Path, kwargs: &str) -> Child {
    let script = format!(
        "import sys, zc.lockfile\nlock = zc.lockfile.LockFile(sys.argv[1]{kwargs})\n\
         print('locked', flush=True)\nsys.stdin.read()\nlock.close()\n"
    );
    spawn_locked(Command::new(python).args(["-c", &script, path.to_str().unwrap()]))
}

/// Says why an interop check is skipped, or fails it where it must run:
/// `.ci/run` sets `LOCKFILE_REQUIRE_INTEROP=1`, so CI never skips silently.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("LOCKFILE_REQUIRE_INTEROP").is_none(),
        "required interop check cannot run: {why}"
    );
    eprintln!("NOTICE: skipping an interop check: {why}");
}

/// Whether the long variants run (`LOCKFILE_LONG=1`): more trials, same checks.
pub fn long_run() -> bool {
    std::env::var_os("LOCKFILE_LONG").is_some()
}

/// `short` trials normally, `long` with `LOCKFILE_LONG=1`.
pub fn trials(short: usize, long: usize) -> usize {
    if long_run() { long } else { short }
}

/// A Python with `zc.lockfile` from `PyPI`, in a venv made once under cargo's
/// target directory; `None` (after a notice) where that cannot be done.
pub fn zc_python() -> Option<std::path::PathBuf> {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = base.join("zc-venv");
    let python = venv.join("bin/python");
    // Test binaries run in parallel: the first one builds the venv, under a lock.
    let _building = scoped_lockfile::LockedContext::new(base.join("zc-venv-setup")).unwrap();
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", "import zc.lockfile"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if works(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    if !made.is_ok_and(|status| status.success()) {
        skip("python3 -m venv failed (is python3 installed?)");
        return None;
    }
    let pip = venv.join("bin/pip");
    let installed = Command::new(pip)
        .args(["install", "--quiet", "zc.lockfile==4.0"])
        .status();
    if installed.is_ok_and(|status| status.success()) && works(&python) {
        Some(python)
    } else {
        skip("pip could not install zc.lockfile from PyPI");
        None
    }
}

/// The number of threads in this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Waits (within [`PATIENCE`]) until this process is down to `threads` threads,
/// and says how many it has then.
pub fn settle_to(threads: usize) -> usize {
    let deadline = std::time::Instant::now() + PATIENCE;
    while thread_count() > threads && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    thread_count()
}

/// Starts `command`, which prints `locked` once it holds a lock and holds it
/// until its stdin closes (util-linux `flock(1)` or Python, say), and waits
/// for that line.
pub fn spawn_locked(command: &mut Command) -> Child {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "locked\n", "{command:?}");
    child
}

/// Whether this process runs as root, which reads and writes any file.
pub fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    uid_line.split_whitespace().nth(2) == Some("0")
}

/// `holder ARGS` as the unprivileged user `nobody`, via util-linux `setpriv`.
pub fn holder_as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_holder"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)")
}

/// A small xorshift generator: reproducible random inputs without a dependency.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound as u64).unwrap()
    }
}

/// Blocked `flock` requests on the file at `path`, by `/proc/locks` (Linux):
/// each waiter blocked in the kernel is a line `N: -> FLOCK ... MAJ:MIN:INODE ...`.
#[cfg(target_os = "linux")]
pub fn blocked_on(path: &Path) -> usize {
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
    let suffix = format!(":{ino}");
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("->"))
        .filter(|line| line.split_whitespace().any(|word| word.ends_with(&suffix)))
        .count()
}

/// Waits (within [`PATIENCE`]) until someone is blocked on the lock at `path`.
#[cfg(target_os = "linux")]
pub fn await_blocked_on(path: &Path) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while blocked_on(path) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "nobody blocked on {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
