//! The cluster the tests share, and the `etcd-lock-helper` processes they drive.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use etcd_test_cluster::{Cluster, spawn_tied, tied_command};
use rustix::process::{Pid, Signal, kill_process};
use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};

/// Generous: these bound a hang, they do not measure speed.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The TTL of the tests that wait for a lease to expire: etcd's minimum with
/// the harness's election timeout is 1 s; 2 s leaves the keep-alives (every
/// TTL/3) room on a busy machine.
pub const SHORT_TTL: Duration = Duration::from_secs(2);

/// Where clusters keep their data: under target/, as cargo says.
pub fn data_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The 3-member cluster of this test binary, started by the first test that
/// needs it; its members die with the test process (parent-death signal).
/// Without etcd the test fails, saying what to install: a test that checked
/// nothing never passes (the README's test command leaves this crate out, and
/// counts its tests as skipped, where etcd cannot be installed).
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(own_cluster)
}

/// A 3-member cluster of the caller's own, to kill.
pub fn own_cluster() -> Cluster {
    require_etcdctl();
    Cluster::start(3, data_dir())
        .unwrap_or_else(|err| panic!("start a 3-member etcd cluster: {err}"))
}

/// Some tests compare with `etcdctl lock`.
fn require_etcdctl() {
    let installed = std::process::Command::new("etcdctl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        installed,
        "etcdctl is not on PATH: install it (Debian/Ubuntu: apt-get install etcd-client; macOS: brew install etcd)"
    );
}

/// A lock name no other test (or earlier run) uses.
pub fn unique_name(test: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test/{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A handle on `cluster`.
pub fn connect(cluster: &Cluster, options: EtcdOptions) -> EtcdLocks {
    EtcdLocks::connect_blocking(cluster.endpoints(), options).expect("connect")
}

/// `pid;hostname`, what a lock taken by `pid` says by default.
pub fn default_content(pid: u32) -> String {
    format!("{pid};{}", gethostname::gethostname().to_string_lossy())
}

/// A running `etcd-lock-helper`, whose output lines arrive on a channel.
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Helper {
    /// Starts `etcd-lock-helper ACTION ENDPOINTS NAME ARGS`, tied to this process.
    pub fn spawn(action: &str, cluster: &Cluster, name: &str, args: &[&str]) -> Self {
        let mut command = tied_command(env!("CARGO_BIN_EXE_etcd-lock-helper"));
        command
            .arg(action)
            .arg(cluster.endpoints_arg())
            .arg(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = spawn_tied(command).expect("spawn etcd-lock-helper");
        let stdout = child.stdout.take().expect("piped stdout");
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

    /// Starts a `hold` helper and waits until it holds the lock; its token.
    pub fn holding(cluster: &Cluster, name: &str, args: &[&str]) -> (Self, u64) {
        let mut helper = Self::spawn("hold", cluster, name, args);
        let line = helper.expect("HELD", PATIENCE);
        (helper, field(&line, "token"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next output line, which must start with `prefix`.
    pub fn expect(&mut self, prefix: &str, within: Duration) -> String {
        match self.lines.recv_timeout(within) {
            Ok(line) if line.starts_with(prefix) => line,
            Ok(line) => panic!("expected {prefix}, the helper said: {line}"),
            Err(RecvTimeoutError::Timeout) => {
                panic!("no {prefix} from the helper within {within:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait();
                panic!("the helper exited ({status:?}) before saying {prefix}")
            }
        }
    }

    /// Whether the helper says nothing for `quiet`.
    pub fn is_silent_for(&self, quiet: Duration) -> bool {
        matches!(
            self.lines.recv_timeout(quiet),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// Asks a `hold` helper to release (a line on its stdin).
    pub fn release(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"release\n").expect("write to the helper");
    }

    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id().cast_signed()).expect("a pid");
        kill_process(pid, signal).expect("signal the helper");
    }

    /// Waits for the helper to exit, at most `within`.
    pub fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "helper still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The number after `name=` in a helper's line.
pub fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{name}=")))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no number {name}= in {line:?}"))
}

/// The text after `name=` in a helper's line (up to the next space).
pub fn text_field<'a>(line: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
}
