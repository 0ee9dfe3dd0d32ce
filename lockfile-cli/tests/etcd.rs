//! `lockfile run --etcd` and `lockfile status --etcd` against a real 3-member
//! etcd cluster (shared by these tests), with `lockfile` processes killed and
//! stopped under their commands.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use etcd_test_cluster::{Cluster, spawn_tied, tied_command};
use support::{LOCKFILE, PATIENCE, exists, hostname, kill, text};

/// The TTL of the tests that wait for a lease to end.
const TTL: Duration = Duration::from_secs(2);

/// This binary's cluster. Without etcd the test fails, saying what to install
/// (the README's test command leaves this test out where it cannot install etcd).
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    CLUSTER.get_or_init(|| {
        Cluster::start(3, base).unwrap_or_else(|err| panic!("start a 3-member etcd cluster: {err}"))
    })
}

fn unique(test: &str) -> String {
    format!("cli/{test}-{}", std::process::id())
}

/// `lockfile ARGS` with the cluster's endpoints after `--etcd`.
fn lockfile_etcd(cluster: &Cluster, subcommand: &str, args: &[&str]) -> Command {
    let mut command = Command::new(LOCKFILE);
    command
        .arg(subcommand)
        .arg("--etcd")
        .arg(cluster.endpoints_arg())
        .args(args)
        .env_remove("LOCKFILE_ETCD_ENDPOINTS")
        .stdin(Stdio::null());
    command
}

fn output(mut command: Command) -> Output {
    command.output().unwrap()
}

/// A `lockfile run --etcd` whose command says `held TOKEN PID` and then waits
/// for a line on its stdin, tied to this test process.
struct Holder {
    child: Child,
    lines: Receiver<String>,
}

impl Holder {
    fn start(cluster: &Cluster, name: &str, options: &[&str]) -> Self {
        Self::start_running(
            cluster,
            name,
            options,
            "echo held $LOCKFILE_FENCING_TOKEN $$; read line; echo done",
        )
    }

    fn start_running(cluster: &Cluster, name: &str, options: &[&str], script: &str) -> Self {
        Self::start_on(&cluster.endpoints_arg(), name, options, script)
    }

    /// As [`start_running`](Self::start_running), on the cluster at `endpoints`.
    fn start_on(endpoints: &str, name: &str, options: &[&str], script: &str) -> Self {
        let mut command = tied_command(LOCKFILE);
        command
            .args(["run", "--etcd", endpoints])
            .args(options)
            .args([name, "--", "sh", "-c", script])
            .env_remove("LOCKFILE_ETCD_ENDPOINTS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_tied(command).unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for `held TOKEN PID`: the token and the command's pid.
    fn held(&self) -> (u64, u32) {
        let line = self.line(PATIENCE).expect("held");
        let mut words = line.split_whitespace().skip(1);
        let token = words.next().unwrap().parse().unwrap();
        let pid = words.next().unwrap().parse().unwrap();
        (token, pid)
    }

    fn line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    fn release(&mut self) {
        self.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"go\n")
            .unwrap();
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Exit status and stderr, waiting at most `within`.
    fn finish(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "lockfile still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = self.child.wait().unwrap();
        let stderr = support::read_all(self.child.stderr.take().unwrap());
        (status.code(), stderr)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_command_gets_a_growing_fencing_token_and_its_exit_status_is_ours() {
    let cluster = cluster();
    let name = unique("token");
    let run = |code: &str| {
        let script = format!("echo $LOCKFILE_FENCING_TOKEN; exit {code}");
        output(lockfile_etcd(
            cluster,
            "run",
            &[&name, "--", "sh", "-c", &script],
        ))
    };
    let first = run("0");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = run("3");
    assert_eq!(second.status.code(), Some(3));
    let token = |out: &Output| text(&out.stdout).trim().parse::<u64>().unwrap();
    assert!(token(&second) > token(&first));
}

#[test]
fn no_wait_and_timeout_fail_naming_the_holder_with_the_conflict_code() {
    let cluster = cluster();
    let name = unique("conflict");
    let mut holder = Holder::start(cluster, &name, &[]);
    holder.held();
    let busy = output(lockfile_etcd(cluster, "run", &["-n", &name, "true"]));
    assert_eq!(busy.status.code(), Some(1));
    let said = text(&busy.stderr);
    let whom = format!("held by pid {} on {}", holder.pid(), hostname());
    assert!(said.contains(&whom), "{said}");

    let quiet = output(lockfile_etcd(
        cluster,
        "run",
        &["-n", "-q", "-E", "7", &name, "true"],
    ));
    assert_eq!(quiet.status.code(), Some(7));
    assert_eq!(text(&quiet.stderr), "");

    let started = Instant::now();
    let timed = output(lockfile_etcd(
        cluster,
        "run",
        &["-w", "0.5", "-v", &name, "true"],
    ));
    assert_eq!(timed.status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_millis(500));
    let said = text(&timed.stderr);
    assert!(
        said.contains("waiting for up to 500ms") && said.contains("within"),
        "{said}"
    );

    holder.release();
    let (code, _) = holder.finish(PATIENCE);
    assert_eq!(code, Some(0));
    let free = output(lockfile_etcd(cluster, "run", &["-n", &name, "true"]));
    assert_eq!(free.status.code(), Some(0));
}

#[test]
fn status_says_free_or_who_holds_with_the_token_and_waiters() {
    let cluster = cluster();
    let name = unique("status");
    let free = output(lockfile_etcd(cluster, "status", &[&name]));
    assert_eq!(free.status.code(), Some(0));
    assert_eq!(text(&free.stdout).trim(), format!("{name}: free"));

    let holder = Holder::start(cluster, &name, &[]);
    let (token, _) = holder.held();
    let held = output(lockfile_etcd(cluster, "status", &[&name]));
    assert_eq!(held.status.code(), Some(1));
    let said = text(&held.stdout);
    let expected = format!(
        "{name}: held by pid {} on {} (this host; the process is running); fencing token {token}, 0 waiting",
        holder.pid(),
        hostname()
    );
    assert_eq!(said.trim(), expected);

    // The endpoints may come from the environment, with --etcd alone.
    let json = Command::new(LOCKFILE)
        .args(["status", "--etcd", "--json", &name])
        .env("LOCKFILE_ETCD_ENDPOINTS", cluster.endpoints_arg())
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let json = text(&json.stdout);
    assert!(
        json.contains(&format!("\"fencing_token\":{token}")),
        "{json}"
    );
    assert!(
        json.contains(&format!("\"pid\":{}", holder.pid())),
        "{json}"
    );
    assert!(json.contains("\"state\":\"held\""), "{json}");
}

#[test]
fn a_cluster_that_cannot_be_reached_is_an_error_not_a_free_lock() {
    cluster();
    // A port nobody listens on (bound, then let go).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let status = Command::new(LOCKFILE)
        .args(["status", "--etcd", &endpoint, "anything"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    assert!(
        text(&status.stderr).contains("etcd did not answer"),
        "{}",
        text(&status.stderr)
    );
    let run = Command::new(LOCKFILE)
        .args(["run", "--etcd", &endpoint, "-w", "1", "anything", "true"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(started.elapsed() < PATIENCE);
}

#[test]
fn options_that_do_not_apply_to_etcd_are_refused() {
    let cluster = cluster();
    let name = unique("usage");
    for args in [
        vec!["-o", name.as_str(), "true"],
        vec!["--ttl", "soon", name.as_str(), "true"],
        vec!["-s", name.as_str(), "true"],
    ] {
        let refused = output(lockfile_etcd(cluster, "run", &args));
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
    }
    let shared = output(lockfile_etcd(cluster, "run", &["-s", &name, "true"]));
    assert!(
        text(&shared.stderr).contains("shared locks"),
        "{}",
        text(&shared.stderr)
    );
    // --ttl is for etcd only.
    let file = Command::new(LOCKFILE)
        .args(["run", "--ttl", "5", "x.lock", "true"])
        .env_remove("LOCKFILE_ETCD_ENDPOINTS")
        .output()
        .unwrap();
    assert_eq!(file.status.code(), Some(2));
}

#[test]
fn a_killed_lockfile_takes_its_command_along_and_the_next_waiter_gets_the_lock() {
    let cluster = cluster();
    let name = unique("killed");
    let ttl = TTL.as_secs().to_string();
    let holder = Holder::start(cluster, &name, &["--ttl", &ttl]);
    let (token, command_pid) = holder.held();
    let waiter = Holder::start(cluster, &name, &[]);
    assert!(waiter.line(Duration::from_millis(300)).is_none());
    let killed = Instant::now();
    kill("KILL", &holder.pid());
    let (next, _) = waiter.held();
    let took = killed.elapsed();
    assert!(took < TTL + Duration::from_secs(1), "took {took:?}");
    assert!(next > token);
    // The command died with lockfile (the parent-death signal).
    let deadline = Instant::now() + PATIENCE;
    while exists(command_pid) && !is_zombie(command_pid) {
        assert!(Instant::now() < deadline, "the command outlived lockfile");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_stopped_lockfile_loses_the_lease_and_kills_its_command_when_resumed() {
    let cluster = cluster();
    let name = unique("stopped");
    let ttl = TTL.as_secs().to_string();
    let script = "echo held $LOCKFILE_FENCING_TOKEN $$; trap 'echo terminated; exit 0' TERM; \
                  while :; do sleep 0.05; done";
    let stopped = Holder::start_running(cluster, &name, &["--ttl", &ttl], script);
    let (token, command) = stopped.held();
    kill("STOP", &stopped.pid());
    let started = Instant::now();
    let mut next = Holder::start(cluster, &name, &[]);
    let (next_token, _) = next.held();
    assert!(started.elapsed() < TTL + Duration::from_secs(1));
    assert!(next_token > token);
    // The command ran alongside the next holder while lockfile was stopped
    // (inherent to leases: nothing of lockfile's runs to stop it). Resumed,
    // lockfile kills it at once: no SIGTERM and grace, the lease is gone.
    kill("CONT", &stopped.pid());
    let (code, stderr) = stopped.finish(PATIENCE);
    assert_eq!(code, Some(75), "{stderr}");
    assert!(
        stderr.contains("lost the etcd lease") && stderr.contains("may have run alongside"),
        "{stderr}"
    );
    assert!(!exists(command) || is_zombie(command));
    next.release();
    assert_eq!(next.finish(PATIENCE).0, Some(0));
}

/// A TCP relay to one etcd member that can be frozen, as a relay process
/// stopped with SIGSTOP would be: its connections stay open, nothing gets
/// through either way. What a `lockfile` cut off from the cluster sees.
struct Relay {
    endpoint: String,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    fn to(member: &str) -> Self {
        let target = member
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let frozen = Arc::new(AtomicBool::new(false));
        let relay_frozen = Arc::clone(&frozen);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let frozen = Arc::clone(&relay_frozen);
                    std::thread::spawn(move || pipe(from, to, &frozen));
                }
            }
        });
        Self { endpoint, frozen }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    let mut buf = [0; 16 * 1024];
    loop {
        let read = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if to.write_all(&buf[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A command that writes the time (`date +%s.%N`) into `log` every 50 ms,
/// ignoring SIGTERM (slow to stop); after `held TOKEN PID`.
fn stamping(log: &Path) -> String {
    format!(
        "echo held $LOCKFILE_FENCING_TOKEN $$; trap '' TERM; \
         while :; do date +%s.%N >> '{}'; sleep 0.05; done",
        log.display()
    )
}

/// The times a [`stamping`] command wrote.
fn stamps(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// The next holder: takes the lock (waiting), writes the time it started
/// into `log`, and ends.
fn next_holder(cluster: &Cluster, name: &str, log: &Path) -> Output {
    let script = format!("date +%s.%N > '{}'", log.display());
    output(lockfile_etcd(
        cluster,
        "run",
        &[name, "--", "sh", "-c", &script],
    ))
}

/// How long the first command ran on after the second started, from their
/// own clocks: at most zero when they never overlapped.
fn overlap(first: &Path, second: &Path) -> f64 {
    let started = stamps(second)[0];
    let last = stamps(first).into_iter().fold(f64::MIN, f64::max);
    last - started
}

/// Now, as `date +%s.%N` says it.
fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_cut_off_holder_s_command_is_dead_before_the_next_holder_starts() {
    let cluster = cluster();
    let name = unique("cut-off");
    let dir = tempfile::tempdir().unwrap();
    let (first_log, second_log) = (dir.path().join("first"), dir.path().join("second"));
    let relay = Relay::to(&cluster.members()[0].endpoint());
    // The default grace: a command that ignores SIGTERM is killed by SIGKILL.
    let cut_off = Holder::start_on(
        &relay.endpoint,
        &name,
        &["--ttl", "3"],
        &stamping(&first_log),
    );
    cut_off.held();
    relay.freeze();
    let next = next_holder(cluster, &name, &second_log);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    let (code, stderr) = cut_off.finish(PATIENCE);
    assert_eq!(code, Some(75), "{stderr}");
    assert!(
        stderr.contains("ended before the lease could expire"),
        "{stderr}"
    );
    let overlap = overlap(&first_log, &second_log);
    assert!(overlap < 0.0, "the commands overlapped by {overlap:.3} s");
}

#[test]
fn a_kill_after_longer_than_the_lease_allows_is_refused() {
    let cluster = cluster();
    let name = unique("kill-after");
    let refused = output(lockfile_etcd(
        cluster,
        "run",
        &["--ttl", "3", "--kill-after", "5", &name, "true"],
    ));
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    assert!(said.contains("at most a third of --ttl (1s)"), "{said}");
}

#[test]
fn a_killed_lockfile_takes_what_its_command_started_along() {
    let cluster = cluster();
    let name = unique("killed-script");
    let dir = tempfile::tempdir().unwrap();
    let (first_log, second_log) = (dir.path().join("first"), dir.path().join("second"));
    let ttl = TTL.as_secs().to_string();
    // A script whose own child does the work, and survives HUP and TERM.
    let script = format!(
        "echo held $LOCKFILE_FENCING_TOKEN $$; \
         sh -c \"trap '' HUP TERM; while :; do date +%s.%N >> '{}'; sleep 0.05; done\" & wait",
        first_log.display()
    );
    let killed = Holder::start_running(cluster, &name, &["--ttl", &ttl], &script);
    killed.held();
    std::thread::sleep(Duration::from_millis(200));
    kill("KILL", &killed.pid());
    let next = next_holder(cluster, &name, &second_log);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    let overlap = overlap(&first_log, &second_log);
    assert!(overlap < 0.0, "the commands overlapped by {overlap:.3} s");
}

#[test]
fn a_stopped_job_past_its_lease_is_killed_not_resumed() {
    let cluster = cluster();
    let name = unique("stopped-job");
    let dir = tempfile::tempdir().unwrap();
    let (first_log, second_log) = (dir.path().join("first"), dir.path().join("second"));
    let ttl = TTL.as_secs().to_string();
    let stopped = Holder::start_running(cluster, &name, &["--ttl", &ttl], &stamping(&first_log));
    let (_, command) = stopped.held();
    // lockfile and its command's group stopped together, as a job is.
    let group = process_group(command);
    kill("STOP", &stopped.pid());
    kill("STOP", &format!("-{group}"));
    let next = next_holder(cluster, &name, &second_log);
    assert_eq!(next.status.code(), Some(0), "{}", text(&next.stderr));
    let resumed = wall_clock();
    kill("CONT", &stopped.pid());
    let (code, stderr) = stopped.finish(PATIENCE);
    assert_eq!(code, Some(75), "{stderr}");
    let after: Vec<f64> = stamps(&first_log)
        .into_iter()
        .filter(|&stamp| stamp >= resumed)
        .collect();
    assert!(
        after.is_empty(),
        "the command ran on after the resume: {after:?}"
    );
    assert!(overlap(&first_log, &second_log) < 0.0);
}

/// The process group of `pid`, from `/proc`.
fn process_group(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit(')').next().unwrap();
    after_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn processes_counting_under_the_etcd_lock_lose_no_update() {
    const PROCESSES: usize = 3;
    const TIMES: usize = 8;
    let cluster = cluster();
    let name = unique("count");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("count");
    std::fs::write(&file, "0\n").unwrap();
    let script = format!(
        "n=$(cat '{0}'); sleep 0.01; echo $((n + 1)) > '{0}'",
        file.display()
    );
    let workers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let endpoints = cluster.endpoints_arg();
            let (name, script) = (name.clone(), script.clone());
            std::thread::spawn(move || {
                for _ in 0..TIMES {
                    let ran = Command::new(LOCKFILE)
                        .args([
                            "run", "--etcd", &endpoints, &name, "--", "sh", "-c", &script,
                        ])
                        .status()
                        .unwrap();
                    assert!(ran.success());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let count: usize = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(count, PROCESSES * TIMES);
}

/// Whether `pid` is a zombie: dead, not yet reaped by its new parent.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_holder_that_names_nobody_is_worded_for_etcd() {
    let cluster = cluster();
    if !support::have("etcdctl", "version") {
        return;
    }
    let name = unique("etcdctl");
    // `etcdctl lock` writes nothing into its key. (Its command's stdin is
    // /dev/null: it holds the lock for a fixed while.)
    let mut etcdctl = Command::new("etcdctl")
        .args(["--endpoints", &cluster.endpoints_arg(), "lock", &name, "--"])
        .args(["sh", "-c", "echo locked; sleep 2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the end: etcdctl may write more.
    let mut stdout = std::io::BufReader::new(etcdctl.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let waited = output(lockfile_etcd(
        cluster,
        "run",
        &["-v", "-w", "0.3", &name, "true"],
    ));
    assert_eq!(waited.status.code(), Some(1));
    let said = text(&waited.stderr);
    assert!(
        said.contains("held; its key does not say by whom (etcdctl lock?)")
            && !said.contains("the file"),
        "{said}"
    );
    let _ = etcdctl.wait();
    drop(stdout);
}
