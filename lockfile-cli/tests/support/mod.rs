//! What the CLI's test files share: starting the binary, reading a child's
//! output with a time limit, util-linux tools, and skipping where they are missing.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// Generous: these bound a hang, they do not measure speed.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The `lockfile` binary built for these tests.
pub const LOCKFILE: &str = env!("CARGO_BIN_EXE_lockfile");

pub fn lockfile(args: &[&str]) -> Command {
    let mut command = Command::new(LOCKFILE);
    command.args(args).stdin(Stdio::null());
    command
}

pub fn output(args: &[&str]) -> Output {
    lockfile(args).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn hostname() -> String {
    text(&Command::new("uname").arg("-n").output().unwrap().stdout)
        .trim()
        .to_owned()
}

/// A started child whose stdout arrives line by line on a channel, so a test
/// waits for a line with a time limit instead of hanging.
pub struct Lines {
    pub child: Child,
    lines: Receiver<String>,
}

impl Lines {
    /// Starts `command` with its stdout piped (stdin as the command set it).
    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
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
        Self { child, lines }
    }

    /// The next line, or `None` if none comes within `wait`.
    pub fn next(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    pub fn expect(&self, expected: &str) {
        assert_eq!(self.next(PATIENCE).as_deref(), Some(expected));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Sends `signal` (a name such as `INT`) to `target`: a pid, or `-PGID`.
pub fn kill(signal: &str, target: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {target}");
}

/// Whether process `pid` still exists (a zombie counts).
pub fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `flock -n PATH true`: 0 if util-linux flock(1) got the lock, 1 if held.
pub fn flock_n(path: &Path) -> i32 {
    flock_n_as(path, "-x")
}

/// `flock -n -s|-x PATH true`: 0 if it got that lock, 1 if not.
pub fn flock_n_as(path: &Path, how: &str) -> i32 {
    Command::new("flock")
        .args(["-n", how])
        .arg(path)
        .arg("true")
        .status()
        .unwrap()
        .code()
        .unwrap()
}

/// Whether a tool is here; `.ci/run` installs them.
pub fn have(program: &str, probe_arg: &str) -> bool {
    let found = Command::new(program)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip(&format!("{program} is not installed"));
    }
    found
}

/// Says why a check is skipped, or fails it where it must run: `.ci/run`
/// sets `LOCKFILE_REQUIRE_INTEROP=1`, so CI never skips silently.
pub fn skip(why: &str) {
    assert!(
        std::env::var_os("LOCKFILE_REQUIRE_INTEROP").is_none(),
        "required check cannot run: {why}"
    );
    eprintln!("NOTICE: skipping a check: {why}");
}

/// Whether this process runs as root, which reads and writes any file.
pub fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    uid_line.split_whitespace().nth(2) == Some("0")
}

/// `program ARGS` as the unprivileged user `nobody`, via util-linux `setpriv`.
pub fn as_nobody(program: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux)")
}

/// A directory holding a `flock` symlink to the `lockfile` binary, as a user
/// without util-linux would install it.
pub fn flock_symlink() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("flock");
    std::os::unix::fs::symlink(LOCKFILE, &link).unwrap();
    (dir, link)
}

/// Reads whatever `reader` has until it ends (for a child's stderr).
pub fn read_all(mut reader: impl Read) -> String {
    let mut all = String::new();
    let _ = reader.read_to_string(&mut all);
    all
}
