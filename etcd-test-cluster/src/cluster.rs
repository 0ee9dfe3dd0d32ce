//! A local etcd cluster: members on 127.0.0.1 with ephemeral ports, data dirs
//! of their own, quick elections, killed with the test process.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::http;
use crate::tied::{spawn_tied, tied_command};

/// Names the etcd binary to use instead of the first `etcd` on `PATH`.
pub const ETCD_BIN_VAR: &str = "LOCKFILE_ETCD_BIN";
/// How long a cluster may take to become healthy before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// New ports are tried this many times when a member exits early (another
/// process took a port between our probe and etcd's bind).
const START_ATTEMPTS: usize = 5;

/// One etcd process.
#[derive(Debug)]
pub struct Member {
    name: String,
    client_port: u16,
    /// `None` once killed.
    process: Option<Child>,
}

impl Member {
    /// The URL clients use.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The member's name, `m0`, `m1`, ...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether its process still runs (it may be stopped).
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = self
            .process
            .as_ref()
            .and_then(|p| Pid::from_raw(p.id().cast_signed()))
        {
            let _ = kill_process(pid, signal);
        }
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A running cluster; dropping it kills the members and removes the data.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    members: Vec<Member>,
    started_in: Duration,
}

impl Cluster {
    /// Starts `size` members with data dirs under `base` and waits until each
    /// says it is healthy.
    ///
    /// # Errors
    ///
    /// If etcd cannot be started, or the cluster is not healthy within 30 s.
    pub fn start(size: usize, base: &Path) -> io::Result<Self> {
        let started = Instant::now();
        // A missing binary is one clear error, not a retry with new ports.
        let etcd = etcd_binary()?;
        remove_stale_data(base);
        let mut last_failure = None;
        for attempt in 0..START_ATTEMPTS {
            let dir = base.join(format!("etcd-{}-{}", std::process::id(), unique()));
            match Self::try_start(&etcd, size, dir) {
                Ok(mut cluster) => {
                    cluster.started_in = started.elapsed();
                    return Ok(cluster);
                }
                Err(Failure::MemberExited(why)) => {
                    eprintln!("etcd cluster attempt {attempt}: {why}; retrying with new ports");
                    last_failure = Some(why);
                }
                Err(Failure::Other(err)) => return Err(err),
            }
        }
        Err(io::Error::other(format!(
            "etcd cluster did not start in {START_ATTEMPTS} attempts: {}",
            last_failure.unwrap_or_default()
        )))
    }

    fn try_start(etcd_binary: &Path, size: usize, dir: PathBuf) -> Result<Self, Failure> {
        std::fs::create_dir_all(&dir).map_err(Failure::Other)?;
        let ports = free_ports(2 * size).map_err(Failure::Other)?;
        let names: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
        let initial_cluster = names
            .iter()
            .zip(ports.chunks(2))
            .map(|(name, pair)| format!("{name}=http://127.0.0.1:{}", pair[1]))
            .collect::<Vec<_>>()
            .join(",");
        // One token for all members of this cluster, none other's.
        let token = format!("lockfile-test-{}-{}", std::process::id(), unique());
        let mut cluster = Self {
            dir,
            members: Vec::new(),
            started_in: Duration::ZERO,
        };
        for (name, pair) in names.into_iter().zip(ports.chunks(2)) {
            let (client_port, peer_port) = (pair[0], pair[1]);
            let log = std::fs::File::create(cluster.dir.join(format!("{name}.log")))
                .map_err(Failure::Other)?;
            let mut etcd = tied_command(etcd_binary);
            etcd.arg("--name")
                .arg(&name)
                .arg("--data-dir")
                .arg(cluster.dir.join(&name))
                .arg("--listen-client-urls")
                .arg(format!("http://127.0.0.1:{client_port}"))
                .arg("--advertise-client-urls")
                .arg(format!("http://127.0.0.1:{client_port}"))
                .arg("--listen-peer-urls")
                .arg(format!("http://127.0.0.1:{peer_port}"))
                .arg("--initial-advertise-peer-urls")
                .arg(format!("http://127.0.0.1:{peer_port}"))
                .arg("--initial-cluster")
                .arg(&initial_cluster)
                .args(["--initial-cluster-state", "new"])
                .arg("--initial-cluster-token")
                .arg(&token)
                // Quick elections, so that a killed leader is replaced in about a second.
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let process = spawn_tied(etcd).map_err(Failure::Other)?;
            cluster.members.push(Member {
                name,
                client_port,
                process: Some(process),
            });
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            for member in &mut cluster.members {
                if let Some(Ok(Some(status))) = member.process.as_mut().map(Child::try_wait) {
                    let log =
                        std::fs::read_to_string(cluster.dir.join(format!("{}.log", member.name)))
                            .unwrap_or_default();
                    return Err(Failure::MemberExited(format!(
                        "member {} exited early ({status}): {}",
                        member.name,
                        log.lines().last().unwrap_or("")
                    )));
                }
            }
            if cluster.members.iter().all(|m| http::healthy(m.client_port)) {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(Failure::Other(io::Error::other(format!(
                    "etcd cluster in {} not healthy within {START_TIMEOUT:?}",
                    cluster.dir.display()
                ))));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The members' client URLs, the dead ones too (as a client's
    /// configuration would list them).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    /// [`endpoints`](Self::endpoints) joined with commas, as the CLI takes them.
    pub fn endpoints_arg(&self) -> String {
        self.endpoints().join(",")
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// How long [`start`](Self::start) took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Where the members keep their data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILLs member `index`.
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// SIGKILLs every member.
    pub fn kill_all(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }

    /// SIGSTOPs member `index`: it stays, silent.
    pub fn pause(&self, index: usize) {
        self.members[index].signal(Signal::STOP);
    }

    /// SIGCONTs member `index`.
    pub fn resume(&self, index: usize) {
        self.members[index].signal(Signal::CONT);
    }

    /// The index of the member the running members agree is the leader, if any.
    pub fn leader(&self) -> Option<usize> {
        let running = self.members.iter().filter(|m| m.is_running());
        let leader_id = running
            .filter_map(|m| http::member_and_leader(m.client_port))
            .map(|(_, leader)| leader)
            .find(|leader| leader != "0")?;
        self.members.iter().position(|m| {
            m.is_running()
                && http::member_and_leader(m.client_port).is_some_and(|(id, _)| id == leader_id)
        })
    }

    /// Waits up to `timeout` for a leader among the running members.
    pub fn wait_for_leader(&self, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                return Some(leader);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            // A stopped process takes SIGKILL too.
            member.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Failure {
    /// A member exited while starting: worth another try with other ports.
    MemberExited(String),
    Other(io::Error),
}

/// `n` distinct free ports: all bound at once (so they differ), then let go.
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// Removes the data dirs of clusters whose test process is gone: a cluster
/// kept in a `static` is never dropped (its members die with the process, by
/// the parent-death signal, but its data stays).
fn remove_stale_data(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("etcd-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = Pid::from_raw(pid).is_none_or(|pid| {
            rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
        });
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A number no other cluster of this process has used.
fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The etcd binary: `$LOCKFILE_ETCD_BIN`, else the first `etcd` on `PATH`.
///
/// # Errors
///
/// `NotFound`, saying what to install, where there is none.
pub fn etcd_binary() -> io::Result<PathBuf> {
    if let Some(chosen) = std::env::var_os(ETCD_BIN_VAR) {
        let chosen = PathBuf::from(chosen);
        return if chosen.is_file() {
            Ok(chosen)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{ETCD_BIN_VAR}={}: no such file", chosen.display()),
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "etcd is not on PATH: install it (Debian/Ubuntu: apt-get install etcd-server \
                 etcd-client; macOS: brew install etcd) or set LOCKFILE_ETCD_BIN",
            )
        })
}
